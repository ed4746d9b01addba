from .detection import DetectionAdapter
from .pose import KeypointMix, MultiLevelHeatmapHead, PoseAdapter, heatmap_keypoints
from .segmentation import SegCutMix, SegmentationAdapter, warp_label_map

__all__ = [
    'DetectionAdapter', 'SegmentationAdapter', 'SegCutMix', 'warp_label_map', 'KeypointMix',
    'PoseAdapter', 'MultiLevelHeatmapHead', 'heatmap_keypoints'
]
