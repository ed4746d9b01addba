from .pose import PosePredictor, draw_poses, is_pose_config
from .segmentation import SegPredictor, draw_segmentation, is_segmentation_config

__all__ = [
    'SegPredictor', 'draw_segmentation', 'is_segmentation_config', 'PosePredictor', 'draw_poses',
    'is_pose_config'
]
