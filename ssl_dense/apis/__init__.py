from .segmentation import SegPredictor, draw_segmentation, is_segmentation_config

__all__ = ['SegPredictor', 'draw_segmentation', 'is_segmentation_config']
