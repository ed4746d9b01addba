# Mean teacher around Semantic FPN (EfficientNet-Lite0) on CamVid, 1/8 labeled
# (split seed 1): UniMatch's fixed pixel threshold 0.95. Batch-norm running
# statistics follow the labeled forward only (`unsup_bn_stats=False`): the
# photometric noise of the strong view would otherwise leak into the
# statistics the teacher evaluates clean images with.
_base_ = [
    '../_base_/models/fpn_effl0.py',
    '../_base_/semi/mean-teacher_camvid-1-8.py',
]
model = dict(
    _delete_=True,
    type='ssl_dense.TeacherStudent',
    model=_base_.model,
    adapter=dict(type='SegmentationAdapter'),
    threshold=dict(type='FixedThreshold', thr=0.95),
    branches=_base_.branches,
    predict_on='teacher',
    unsup_bn_stats=False)
