from .pose import PosePredictor, draw_poses, is_pose_config
from .segmentation import (SegPredictor, build_task_model, draw_segmentation,
                           is_segmentation_config, task_scope)

__all__ = [
    'SegPredictor', 'draw_segmentation', 'is_segmentation_config', 'PosePredictor', 'draw_poses',
    'is_pose_config', 'build_task_model', 'task_scope'
]
