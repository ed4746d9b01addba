# RetinaNet on all 205 BCCD train images, 2k-iteration schedule (the
# supervised_full row of the 2k results).
_base_ = ['./retinanet_effl0_fpn_1xb4-1k_bccd.py']
max_iters = 2000
train_cfg = dict(max_iters=max_iters, val_interval=1000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min_ratio=0.01),
]
