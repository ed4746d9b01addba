# 1k-iteration schedule: SGD, linear warm-up, cosine decay. Validates every 500.
max_iters = 1000
val_interval = 500
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=4e-5),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min_ratio=0.01),
]
# lr above is for a total batch of 4 (1 GPU x 4 images); --auto-scale-lr scales it.
auto_scale_lr = dict(enable=False, base_batch_size=4)
