# The peer: mmdet 3.3's own semi-supervised detection (SemiBaseDetector +
# MeanTeacherHook + MultiBranch + MultiSourceSampler), configured from mmdet's
# configs/_base_/datasets/semi_coco_detection.py and soft_teacher configs.
# Detector, backbone, image scale, schedule, batch (2 labeled + 2 unlabeled)
# and split are the same as ours (configs/mean_teacher/), so the rows of
# docs/results/detection.json compare methods, not set-ups.
# mmdet's defaults from the SoftTeacher config: cls_pseudo_thr 0.9, EMA
# momentum 0.001 (mmdet's convention: teacher = (1 - m) * teacher + m * student).
# tools/analysis/detection_results.py tunes both on `val` (see its --peer-grid).
_base_ = [
    '../_base_/models/retinanet_effl0_fpn.py',
    '../_base_/datasets/bccd_detection.py',
    '../_base_/schedules/schedule_1k.py',
    '../_base_/default_runtime.py',
]
split = 'train.10pct.seed1'
detector = _base_.model
model = dict(
    _delete_=True,
    _scope_='mmdet',
    type='SemiBaseDetector',
    detector=detector,
    data_preprocessor=dict(
        type='MultiBranchDataPreprocessor', data_preprocessor=detector.data_preprocessor),
    semi_train_cfg=dict(
        freeze_teacher=True,
        sup_weight=1.0,
        unsup_weight=1.0,
        cls_pseudo_thr=0.9,
        min_pseudo_bbox_wh=(1e-2, 1e-2)),
    semi_test_cfg=dict(predict_on='teacher'))

img_scale = (320, 240)
meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
             'flip_direction', 'homography_matrix')
flip = dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical'])
color_space = [
    [dict(type='ColorTransform')], [dict(type='AutoContrast')], [dict(type='Equalize')],
    [dict(type='Sharpness')], [dict(type='Posterize')], [dict(type='Solarize')],
    [dict(type='Color')], [dict(type='Contrast')], [dict(type='Brightness')],
]
geometric = [
    [dict(type='Rotate')], [dict(type='ShearX')], [dict(type='ShearY')],
    [dict(type='TranslateX')], [dict(type='TranslateY')],
]
branch_field = ['sup', 'unsup_teacher', 'unsup_student']
sup_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    flip,
    dict(type='MultiBranch', branch_field=branch_field, sup=dict(type='PackDetInputs')),
]
weak_pipeline = [
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    flip,
    dict(type='PackDetInputs', meta_keys=meta_keys),
]
strong_pipeline = [
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    flip,
    dict(type='RandomOrder', transforms=[
        dict(type='RandAugment', aug_space=color_space, aug_num=1),
        dict(type='RandAugment', aug_space=geometric, aug_num=1)]),
    dict(type='RandomErasing', n_patches=(1, 5), ratio=(0, 0.2)),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='PackDetInputs', meta_keys=meta_keys),
]
unsup_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadEmptyAnnotations'),
    dict(type='MultiBranch', branch_field=branch_field,
         unsup_teacher=weak_pipeline, unsup_student=strong_pipeline),
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
    sampler=dict(type='mmdet.MultiSourceSampler', batch_size=4, source_ratio=[1, 1]),
    dataset=dict(
        _scope_='mmdet',
        type='ConcatDataset',
        datasets=[
            dict(dataset_common, ann_file=f'annotations/semi/{split}.labeled.json',
                 filter_cfg=dict(filter_empty_gt=True), pipeline=sup_pipeline),
            dict(dataset_common, ann_file=f'annotations/semi/{split}.unlabeled.json',
                 filter_cfg=dict(filter_empty_gt=False), pipeline=unsup_pipeline),
        ]))

train_cfg = dict(val_interval=1000)
val_cfg = dict(_delete_=True, type='mmdet.TeacherStudentValLoop')
custom_hooks = [dict(type='mmdet.MeanTeacherHook', momentum=0.001)]
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=1000, save_best='teacher/coco/bbox_mAP', rule='greater'))
