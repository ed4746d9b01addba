from .detection import DetectionAdapter
from .pose import (KeypointMix, MultiLevelHeatmapHead, PoseAdapter, heatmap_keypoints,
                   warp_heatmaps)
from .segmentation import (ClassBalancedPixelSampler, OracleSegmentationAdapter, SegCutMix,
                           SegmentationAdapter, warp_label_map)

__all__ = [
    'DetectionAdapter', 'SegmentationAdapter', 'OracleSegmentationAdapter', 'SegCutMix',
    'ClassBalancedPixelSampler',
    'warp_label_map', 'KeypointMix', 'PoseAdapter', 'MultiLevelHeatmapHead', 'heatmap_keypoints',
    'warp_heatmaps'
]
