# Mean teacher around RetinaNet on BCCD 10 %, 2k-iteration schedule: the
# first 1000 iterations are supervised (burn-in; the teacher is the student),
# then the teacher's keep rate ramps 0.5 -> 0.999 over 300 iterations and the
# unlabeled loss ramps in over 100.
_base_ = ['./mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py']
max_iters = 2000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min_ratio=0.01),
]
custom_hooks = [
    dict(type='TeacherEMAHook', burn_in_iters=1000,
         momentum=dict(type='linear', start=0.5, end=0.999, steps=300)),
    dict(type='UnsupWeightHook', weight=1.0, burn_in_iters=1000, ramp_iters=100),
    dict(type='DatasetMetaHook'),
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
