# Mean teacher only (no reviewer, single-level head, no Keypoint-Mix) around
# top-down heatmaps (EfficientNet-Lite0), bee pose, 10 % labeled (split seed 1).
# Keypoints whose teacher heatmap maximum reaches 0.25 become pseudo labels.
# Batch-norm running statistics follow the labeled forward only (see
# TeacherStudent `unsup_bn_stats`).
_base_ = [
    '../_base_/models/td-hm_effl0.py',
    '../_base_/semi/trs_bee-10pct.py',
]
model = dict(
    _delete_=True,
    type='ssl_dense.TeacherStudent',
    model=dict(_base_.model, head=dict(_base_.model.head, out_channels=32,
                                       decoder=_base_.codec)),
    adapter=dict(type='PoseAdapter', reviewer_weight=0.0),
    threshold=dict(type='FixedThreshold', thr=0.25),
    branches=_base_.branches,
    predict_on='teacher',
    unsup_bn_stats=False)
