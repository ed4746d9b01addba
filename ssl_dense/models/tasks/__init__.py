from .detection import DetectionAdapter
from .segmentation import SegmentationAdapter, warp_label_map

__all__ = ['DetectionAdapter', 'SegmentationAdapter', 'warp_label_map']
