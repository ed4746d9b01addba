# CamVid road scenes (SegNet version, 11 classes, void = 11), 480x360 files.
# This recipe trains and predicts at half size (240x180, random 128x128
# crops) so that a run fits a CPU; IoU is still computed on the full-size
# label maps (mmseg resizes the logits back). For full size on a GPU, set
# `scale=(480, 360)` and `crop_size=(256, 256)` in the pipelines.
# Set up data/camvid with tools/dataset_converters/prepare_camvid.py (it links
# the images and writes the seeded 1/8 and 1/4 splits to data/camvid/splits).
# Labels: 0-10 classes, 11 void (the model's ignore_index must be 11 too).
# Geometric transforms are mmdet's: they also record `homography_matrix`,
# which the semi-supervised recipes need to move pseudo labels between views.
# RandomResize names its inner resize: by default it is looked up in the
# current scope (mmseg), and mmseg's Resize records no homography.
dataset_type = 'ssl_dense.CamVidDataset'
data_root = 'data/camvid/'
img_scale = (240, 180)
crop_size = (128, 128)  # (width, height)
meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
             'flip', 'flip_direction', 'reduce_zero_label', 'homography_matrix')

# A bad label map (values outside the classes, another size, corrupt) is an
# error naming the file; add skip_bad=True to LoadSegAnnotationsChecked to
# skip such samples with a warning and go on.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ssl_dense.LoadSegAnnotationsChecked', num_classes=11, ignore_index=11),
    dict(type='mmdet.RandomResize', scale=img_scale, ratio_range=(0.5, 1.5), keep_ratio=True,
         resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomCrop', crop_size=crop_size),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='ssl_dense.LoadSegAnnotationsChecked', num_classes=11, ignore_index=11),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _scope_='mmseg',
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train', seg_map_path='trainannot'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        _scope_='mmseg',
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='val', seg_map_path='valannot'),
        pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataloader['dataset'], data_prefix=dict(img_path='test',
                                                             seg_map_path='testannot')))
val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'], ignore_index=11)
# `test` mixes frames of 0001TP (a sequence with frames in `train`) and of
# Seq05VD (none in `train`): mIoU overall and per sequence (mIoU_0001TP, ...).
test_evaluator = dict(val_evaluator, type='ssl_dense.GroupedIoUMetric')

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='mmseg.SegLocalVisualizer', vis_backends=vis_backends,
                  name='visualizer')
