# Mean-teacher recipe on BCCD with 10 % labels (split seed 1): data, hooks,
# schedule and runtime. No `model`: a leaf config combines this with a
# detector base and wraps it in TeacherStudent (see configs/mean_teacher/).
# Each batch: 2 labeled + 2 unlabeled images (weak view for the teacher,
# strong view for the student).
_base_ = [
    '../datasets/bccd_detection.py',
    '../schedules/schedule_1k.py',
    '../default_runtime.py',
]

# Branch names, used by the data (MultiView) and the model alike.
branches = dict(labeled='sup', weak='unsup_weak', strong='unsup_strong')
branch_names = ['sup', 'unsup_weak', 'unsup_strong']
split = 'train.10pct.seed1'
img_scale = (320, 240)
meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
             'flip_direction', 'homography_matrix')

flip = dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical'])
color_space = [
    [dict(type='ColorTransform')], [dict(type='AutoContrast')], [dict(type='Equalize')],
    [dict(type='Sharpness')], [dict(type='Posterize')], [dict(type='Solarize')],
    [dict(type='Color')], [dict(type='Contrast')], [dict(type='Brightness')],
]
labeled_pipeline = [
    dict(type='ssl_dense.LoadImageChecked'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='ssl_dense.MultiView', branches=branch_names, views=dict(sup=[
        dict(type='Resize', scale=img_scale, keep_ratio=True), flip,
        dict(type='PackDetInputs', meta_keys=meta_keys)])),
]
unlabeled_pipeline = [
    # A missing or corrupt image stops training with its name; set
    # skip_bad=True to skip such images and go on.
    dict(type='ssl_dense.LoadImageChecked'),
    # Loads nothing from an unlabeled json without annotations. With one
    # that has them (hidden ground truth, model.hidden_gt=True) they are only
    # compared with the pseudo labels; they never reach a loss.
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='ssl_dense.MultiView', branches=branch_names, views=dict(
        unsup_weak=[
            dict(type='Resize', scale=img_scale, keep_ratio=True), flip,
            dict(type='PackDetInputs', meta_keys=meta_keys)],
        unsup_strong=[
            dict(type='Resize', scale=img_scale, keep_ratio=True), flip,
            dict(type='RandAugment', aug_space=color_space, aug_num=1),
            dict(type='RandomErasing', n_patches=(1, 5), ratio=(0, 0.2)),
            dict(type='PackDetInputs', meta_keys=meta_keys)])),
]
dataset_common = dict(
    type='CocoDataset',
    data_root={{_base_.data_root}},
    metainfo={{_base_.metainfo}},
    data_prefix=dict(img='images/'))
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    # Every batch: 2 labeled + 2 unlabeled images; an epoch is one pass over
    # the unlabeled images (the iteration-based loop restarts it as needed).
    sampler=dict(type='LabeledUnlabeledSampler', batch_size=4, num_labeled=2),
    dataset=dict(
        _scope_='mmdet',
        type='ssl_dense.SemiDataset',
        labeled=dict(dataset_common, ann_file=f'annotations/semi/{split}.labeled.json',
                     filter_cfg=dict(filter_empty_gt=True), pipeline=labeled_pipeline),
        unlabeled=dict(dataset_common, ann_file=f'annotations/semi/{split}.unlabeled.json',
                       filter_cfg=dict(filter_empty_gt=False), pipeline=unlabeled_pipeline)))

custom_hooks = [
    # Teacher = student during burn-in, then an EMA whose keep rate ramps up.
    dict(type='TeacherEMAHook', burn_in_iters=300,
         momentum=dict(type='linear', start=0.5, end=0.999, steps=300)),
    dict(type='UnsupWeightHook', weight=1.0, burn_in_iters=300, ramp_iters=100),
    # Pseudo-label statistics logged by class name.
    dict(type='DatasetMetaHook'),
]

train_cfg = dict(val_interval=1000)
# Validation scores the teacher and the student (teacher/coco/..., student/coco/...),
# and the model's predict_on one without a prefix (used by save_best).
val_cfg = dict(type='TeacherStudentValLoop')
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=1000, save_best='coco/bbox_mAP', rule='greater'),
    visualization=dict(type='mmdet.DetVisualizationHook'))
