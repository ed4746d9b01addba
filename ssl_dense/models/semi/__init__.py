from .adapter import BaseTaskAdapter
from .ema import BUFFER_POLICIES, TeacherEMA
from .thresholds import (AdaptiveThreshold, BaseThreshold, DistributionAlignedThreshold,
                         DualThreshold, EntropyPercentileThreshold, FixedThreshold,
                         GlobalMaxThreshold, GMMThreshold, gather_across_ranks,
                         gmm_1d_threshold, kmeans_1d)
from .teacher_student import DEFAULT_BRANCHES, MultiViewPreprocessor, TeacherStudent

__all__ = [
    'TeacherEMA', 'BUFFER_POLICIES', 'BaseThreshold', 'FixedThreshold', 'AdaptiveThreshold',
    'DualThreshold', 'GMMThreshold', 'EntropyPercentileThreshold', 'GlobalMaxThreshold',
    'DistributionAlignedThreshold', 'kmeans_1d', 'gmm_1d_threshold', 'gather_across_ranks',
    'BaseTaskAdapter',
    'TeacherStudent', 'MultiViewPreprocessor', 'DEFAULT_BRANCHES'
]
