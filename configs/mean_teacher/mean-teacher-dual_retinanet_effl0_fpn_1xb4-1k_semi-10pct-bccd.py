# Mean teacher with the DualThreshold policy: per-class high/low band (HSSDA);
# boxes between the two thresholds become ignored regions.
_base_ = ['./mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py']
model = dict(threshold=dict(_delete_=True, type='DualThreshold'))
