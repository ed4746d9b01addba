# Mean teacher whose strong view is photometric augmentation through
# albumentations (ssl_dense.AlbuPhotometric: colour jitter, blur, noise),
# instead of mmdet's RandAugment colour ops. Geometry still comes from mmdet
# transforms that record the homography; AlbuPhotometric refuses geometric
# albumentations transforms.
_base_ = ['./mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py']
img_scale = _base_.img_scale
meta_keys = _base_.meta_keys
flip = _base_.flip
strong_photometric = dict(type='ssl_dense.AlbuPhotometric', transforms=[
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05, p=0.8),
    dict(type='GaussianBlur', blur_limit=(3, 5), p=0.3),
    dict(type='GaussNoise', p=0.2),
])
unlabeled_pipeline = [
    dict(type='ssl_dense.LoadImageChecked'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='ssl_dense.MultiView', branches=_base_.branch_names, views=dict(
        unsup_weak=[
            dict(type='Resize', scale=img_scale, keep_ratio=True), flip,
            dict(type='PackDetInputs', meta_keys=meta_keys)],
        unsup_strong=[
            dict(type='Resize', scale=img_scale, keep_ratio=True), flip,
            strong_photometric,
            dict(type='RandomErasing', n_patches=(1, 5), ratio=(0, 0.2)),
            dict(type='PackDetInputs', meta_keys=meta_keys)])),
]
train_dataloader = dict(dataset=dict(unlabeled=dict(pipeline=unlabeled_pipeline)))
