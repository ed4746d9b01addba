# The peer (mmdet SemiBaseDetector + MeanTeacherHook) on the 2k-iteration
# schedule of ours (configs/mean_teacher/*-2k_*). mmdet has no burn-in: its
# unlabeled loss is on from the first iteration.
_base_ = ['./semi-base_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py']
max_iters = 2000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min_ratio=0.01),
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
