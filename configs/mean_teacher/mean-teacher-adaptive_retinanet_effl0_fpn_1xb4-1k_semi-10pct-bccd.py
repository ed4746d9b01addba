# Mean teacher with the AdaptiveThreshold policy: per-class EMA of the teacher's confidence.
_base_ = ['./mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py']
model = dict(threshold=dict(_delete_=True, type='AdaptiveThreshold'))
