# Mean teacher with the DualThreshold policy: per-class high/low band (HSSDA);
# boxes between the two thresholds become ignored regions.
_base_ = ['./mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py']
model = dict(threshold=dict(_delete_=True, type='DualThreshold'))
# Ignored pseudo boxes only matter if the assigner ignores anchors on them.
model.update(model=dict(train_cfg=dict(assigner=dict(ignore_iof_thr=0.5))))
