from .detection import DetectionAdapter
from .pose import (KeypointMix, MultiLevelHeatmapHead, OraclePoseAdapter, PoseAdapter,
                   heatmap_keypoints, warp_heatmaps)
from .segmentation import (ClassBalancedPixelSampler, OracleSegmentationAdapter, SegCutMix,
                           SegmentationAdapter, warp_label_map)

__all__ = [
    'DetectionAdapter', 'SegmentationAdapter', 'OracleSegmentationAdapter', 'SegCutMix',
    'ClassBalancedPixelSampler',
    'warp_label_map', 'KeypointMix', 'PoseAdapter', 'OraclePoseAdapter', 'MultiLevelHeatmapHead',
    'heatmap_keypoints',
    'warp_heatmaps'
]
