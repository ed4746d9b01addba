# Semantic FPN, EfficientNet-Lite0, on all 367 CamVid train images
# (supervised_full of the segmentation results). 2k iterations x batch 8 of
# 128x128 crops at half size (see the dataset base), CPU.
_base_ = [
    '../_base_/models/fpn_effl0.py',
    '../_base_/datasets/camvid.py',
    '../_base_/schedules/schedule_poly_2k.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1000, save_best='mIoU', rule='greater'))
