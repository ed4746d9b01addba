from .ema import BUFFER_POLICIES, TeacherEMA
from .thresholds import (AdaptiveThreshold, BaseThreshold, DualThreshold,
                         FixedThreshold, GMMThreshold, gmm_1d_threshold,
                         kmeans_1d)

__all__ = [
    'TeacherEMA', 'BUFFER_POLICIES', 'BaseThreshold', 'FixedThreshold', 'AdaptiveThreshold',
    'DualThreshold', 'GMMThreshold', 'kmeans_1d', 'gmm_1d_threshold'
]
