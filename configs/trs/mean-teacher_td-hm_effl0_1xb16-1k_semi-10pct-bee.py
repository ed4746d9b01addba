# Mean teacher only (no reviewer, single-level head, no Keypoint-Mix) around
# top-down heatmaps (EfficientNet-Lite0), bee pose, 10 % labeled (split seed 1).
# Keypoints whose teacher heatmap maximum reaches 0.6 become pseudo labels:
# chosen on the hidden truth of the unlabeled train images (never on test) with
# tools/analysis/pose_pseudo_label_quality.py. For a model trained on the
# labeled 10 % (split seed 1) for 450 / 900 iterations, 0.6 keeps 63 / 72 % of
# the keypoints at 86 / 87 % precision (within 5 % of the input diagonal);
# below 0.4 the heatmap maximum hardly separates right from wrong keypoints
# (0.25, the first choice: 76 / 82 %, and 0.1 keeps nearly all).
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
    threshold=dict(type='FixedThreshold', thr=0.6),
    branches=_base_.branches,
    predict_on='teacher',
    unsup_bn_stats=False)
