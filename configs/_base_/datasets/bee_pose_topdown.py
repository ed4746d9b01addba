# apic.ai bee pose, top-down heatmaps (128x128 crops around each bee, 32x32
# heatmaps). Set up data/bee_pose with
#   python tools/dataset_converters/bee_pose_to_coco.py ../shared/data/bee_pose
# The set has no val split: training validates once, at the end, on `test`
# (no checkpoint is chosen by it); the results scripts test the last one.
dataset_type = 'ssl_dense.PoseCocoDataset'
data_mode = 'topdown'
data_root = 'data/bee_pose/'
metainfo = dict(from_file='configs/_base_/datasets/bee_pose.py')
input_size = (128, 128)
codec = dict(type='MSRAHeatmap', input_size=input_size, heatmap_size=(32, 32), sigma=2)
# homography_matrix and flip_indices let the semi-supervised recipes move
# keypoints between views (see ssl_dense.TopdownAffineWithHomography).
meta_keys = ('id', 'img_id', 'img_path', 'category_id', 'ori_shape', 'img_shape', 'input_size',
             'input_center', 'input_scale', 'flip', 'flip_direction', 'flip_indices',
             'homography_matrix')
geometric = [
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', rotate_factor=40.0, scale_factor=(0.75, 1.25)),
    dict(type='ssl_dense.TopdownAffineWithHomography', input_size=input_size),
]
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    *geometric,
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs', meta_keys=meta_keys),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=input_size),
    dict(type='PackPoseInputs'),
]
dataset_common = dict(_scope_='mmpose', type=dataset_type, data_root=data_root, data_mode=data_mode,
                      data_prefix=dict(img=''), metainfo=metainfo)
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset_common, ann_file='annotations/bee_pose_train.json',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(dataset_common, ann_file='annotations/bee_pose_test.json', test_mode=True,
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
# PCK@0.05 of the box size; COCO-style AP with OKS (uniform sigma 0.05, see
# configs/_base_/datasets/bee_pose.py).
val_evaluator = [
    dict(type='mmpose.PCKAccuracy', thr=0.05, norm_item='bbox'),
    dict(type='mmpose.CocoMetric', ann_file=data_root + 'annotations/bee_pose_test.json'),
]
test_evaluator = val_evaluator
