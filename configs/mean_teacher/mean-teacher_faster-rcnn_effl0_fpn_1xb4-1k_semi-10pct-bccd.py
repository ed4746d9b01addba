# Mean teacher around Faster R-CNN (EfficientNet-Lite0 + FPN): 10 % of BCCD train
# labeled (split seed 1), the other 90 % unlabeled.
_base_ = [
    '../_base_/models/faster-rcnn_effl0_fpn.py',
    '../_base_/semi/mean-teacher_bccd-10pct.py',
]
model = dict(
    _delete_=True,
    type='ssl_dense.TeacherStudent',
    model={{_base_.model}},
    adapter=dict(type='DetectionAdapter'),
    threshold=dict(type='FixedThreshold', thr=0.5),
    branches={{_base_.branches}},
    predict_on='teacher')
