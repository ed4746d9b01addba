# Supervised RetinaNet, EfficientNet-Lite0 + FPN, all of BCCD train, 2k iterations.
_base_ = [
    '../_base_/models/retinanet_effl0_fpn.py',
    '../_base_/datasets/bccd_detection.py',
    '../_base_/schedules/schedule_iter.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(save_best='coco/bbox_mAP', rule='greater'))
