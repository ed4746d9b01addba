# 1k-iteration pose schedule (sized for a CPU): Adam 1e-3, linear warm-up,
# x0.1 at 750 and 900. Validates once, at the end.
max_iters = 1000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3),
                     clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', milestones=[750, 900], gamma=0.1, by_epoch=False),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
