# Mean teacher around Faster R-CNN (EfficientNet-Lite0 + FPN): 10 % of BCCD train
# labeled (split seed 1), the other 90 % unlabeled.
_base_ = [
    '../_base_/models/faster-rcnn_effl0_fpn.py',
    '../_base_/semi/mean-teacher_bccd-10pct.py',
]
detector = _base_.model
# Pseudo boxes in a policy's soft band become ignored regions; both stages'
# assigners must ignore anchors and proposals on them (mmdet's default -1 does
# not), or band boxes count as background.
detector.train_cfg.rpn.assigner.ignore_iof_thr = 0.5
detector.train_cfg.rcnn.assigner.ignore_iof_thr = 0.5
model = dict(
    _delete_=True,
    type='ssl_dense.TeacherStudent',
    model=detector,
    adapter=dict(type='DetectionAdapter'),
    threshold=dict(type='FixedThreshold', thr=0.5),
    branches={{_base_.branches}},
    predict_on='teacher')
