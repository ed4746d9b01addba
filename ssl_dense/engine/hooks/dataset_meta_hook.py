"""Give the model the training dataset's metainfo (class names, palette)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ssl_dense.registry import HOOKS

__all__ = ['DatasetMetaHook']


@HOOKS.register_module()
class DatasetMetaHook(Hook):
    """Set ``model.dataset_meta`` from the training dataset before training.

    mmengine stores the dataset's metainfo in checkpoints but never hands it
    to the model during training. With it, a TeacherStudent logs pseudo-label
    statistics by class name (``pl_num_RBC``) instead of by index. A
    ``dataset_meta`` the model already has is left as it is.

    It also stops, before the first iteration, a run that would otherwise
    train without a word on something else than configured: a model that
    predicts another number of classes (or keypoints) than the dataset has
    (e.g. a detector head left at 80 classes on a 3-class dataset), or a
    dataloader ``batch_size`` that differs from its
    ``LabeledUnlabeledSampler``'s (the labelled:unlabelled mix of the
    batches would then drift from the configured one).
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        meta = getattr(runner.train_dataloader.dataset, 'metainfo', None)
        if meta:
            self._check_class_count(model, meta)
        self._check_batch_size(runner.train_dataloader)
        if meta and not getattr(model, 'dataset_meta', None):
            model.dataset_meta = dict(meta)

    @staticmethod
    def _check_class_count(model, meta: dict) -> None:
        adapter, student = getattr(model, 'adapter', None), getattr(model, 'student', None)
        key = getattr(adapter, 'meta_classes_key', None)
        if key is None or student is None or not meta.get(key):
            return
        try:
            predicted = adapter.num_classes(student)
        except AttributeError:
            return  # a model the adapter cannot size; the threshold was set by hand
        if predicted != len(meta[key]):
            raise ValueError(f'the model predicts {predicted} classes but the training dataset '
                             f'has {len(meta[key])} ({key}: {list(meta[key])[:10]}); set the '
                             "head's num_classes (or keypoint channels) to match")

    @staticmethod
    def _check_batch_size(loader) -> None:
        sampler = getattr(loader, 'sampler', None)
        wanted = getattr(sampler, 'num_unlabeled_per_batch', None) and sampler.batch_size
        if wanted and loader.batch_size != wanted:
            raise ValueError(f'train_dataloader.batch_size is {loader.batch_size} but its '
                             f'{type(sampler).__name__} makes batches of {wanted} '
                             f'({sampler.num_labeled} labeled); set both (e.g. '
                             f'--cfg-options train_dataloader.batch_size=N '
                             f'train_dataloader.sampler.batch_size=N)')
