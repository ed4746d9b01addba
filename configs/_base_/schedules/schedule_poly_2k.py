# 2k-iteration segmentation schedule: AdamW 1e-3 (batch 8), linear warm-up,
# poly decay. Validates every 1000. (With SGD 0.01 and 1k iterations all of
# train scored no better than 1/8 of it; see the README's CamVid notes.)
max_iters = 2000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-2),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', power=0.9, eta_min=1e-4, by_epoch=False, begin=100, end=max_iters),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
