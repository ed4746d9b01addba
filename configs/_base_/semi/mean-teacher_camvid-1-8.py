# Semi-supervised segmentation recipe on CamVid, 1/8 of train labeled (split
# seed 1; 46 images), the other 321 unlabeled. No `model`: a leaf config wraps
# a segmentor base in TeacherStudent (see configs/mean_teacher_seg/).
# Each batch: 8 labeled + 8 unlabeled crops (the supervised configs train on
# batches of 8 labeled crops: every row sees the same labeled data per
# iteration, as UniMatch compares). Weak and strong views of an
# unlabeled image share one random resize, crop and flip (MultiView
# `shared`); the strong view adds photometric noise through albumentations.
_base_ = [
    '../datasets/camvid.py',
    '../schedules/schedule_poly_2k.py',
    '../default_runtime.py',
]
branches = dict(labeled='sup', weak='unsup_weak', strong='unsup_strong')
branch_names = ['sup', 'unsup_weak', 'unsup_strong']
split = 'train.1-8.seed1'
img_scale = {{_base_.img_scale}}
crop_size = {{_base_.crop_size}}  # (width, height)
meta_keys = {{_base_.meta_keys}}
geometric = [
    dict(type='mmdet.RandomResize', scale=img_scale, ratio_range=(0.5, 1.5), keep_ratio=True,
         resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomCrop', crop_size=crop_size),
    dict(type='mmdet.RandomFlip', prob=0.5),
]
labeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ssl_dense.LoadSegAnnotationsChecked', num_classes=11, ignore_index=11),
    dict(type='ssl_dense.MultiView', branches=branch_names, shared=geometric,
         views=dict(sup=[dict(type='PackSegInputs', meta_keys=meta_keys)])),
]
strong_photometric = dict(type='ssl_dense.AlbuPhotometric', transforms=[
    dict(type='ColorJitter', brightness=0.5, contrast=0.5, saturation=0.5, hue=0.25, p=0.8),
    dict(type='ToGray', p=0.2),
    dict(type='GaussianBlur', blur_limit=(3, 7), sigma_limit=(0.1, 2.0), p=0.5),
])
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ssl_dense.MultiView', branches=branch_names, shared=geometric, views=dict(
        unsup_weak=[dict(type='PackSegInputs', meta_keys=meta_keys)],
        unsup_strong=[strong_photometric, dict(type='PackSegInputs', meta_keys=meta_keys)])),
]
dataset_common = dict(type='ssl_dense.CamVidDataset', data_root={{_base_.data_root}})
train_dataloader = dict(
    _delete_=True,
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='LabeledUnlabeledSampler', batch_size=16, num_labeled=8),
    dataset=dict(
        _scope_='mmseg',
        type='ssl_dense.SemiDataset',
        labeled=dict(dataset_common, ann_file=f'splits/{split}.labeled.txt',
                     data_prefix=dict(img_path='train', seg_map_path='trainannot'),
                     pipeline=labeled_pipeline),
        unlabeled=dict(dataset_common, ann_file=f'splits/{split}.unlabeled.txt',
                       data_prefix=dict(img_path='train'), pipeline=unlabeled_pipeline)))

val_cfg = dict(type='TeacherStudentValLoop')
custom_hooks = [
    dict(type='TeacherEMAHook', burn_in_iters=300,
         momentum=dict(type='linear', start=0.5, end=0.99, steps=200)),
    dict(type='UnsupWeightHook', weight=1.0, burn_in_iters=300, ramp_iters=100),
    dict(type='DatasetMetaHook'),
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1000, save_best='mIoU', rule='greater'))
