# Supervised RetinaNet, EfficientNet-Lite0 + FPN, all 205 BCCD train images,
# 1k iterations x batch 4 at 320x240 (CPU, ~7 minutes; the supervised_full row).
_base_ = [
    '../_base_/models/retinanet_effl0_fpn.py',
    '../_base_/datasets/bccd_detection.py',
    '../_base_/schedules/schedule_1k.py',
    '../_base_/default_runtime.py',
]
train_cfg = dict(val_interval=1000)  # validate once, at the end
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=1000, save_best='coco/bbox_mAP', rule='greater'),
    # Draws nothing during training; tools/test.py --show-dir turns drawing on.
    visualization=dict(type='mmdet.DetVisualizationHook'))
