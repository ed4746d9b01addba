from .dataset_meta_hook import DatasetMetaHook
from .precise_bn_hook import PreciseBNHook, precise_bn, recompute_bn_stats, training_batches
from .reviewer_hook import ReviewerHook
from .teacher_ema_hook import TeacherEMAHook, momentum_at
from .unsup_weight_hook import UnsupWeightHook

__all__ = ['TeacherEMAHook', 'momentum_at', 'UnsupWeightHook', 'ReviewerHook', 'DatasetMetaHook',
           'PreciseBNHook', 'precise_bn', 'recompute_bn_stats', 'training_batches']
