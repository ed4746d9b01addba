# Mean teacher with the AdaptiveThreshold policy on the 2k-iteration schedule.
_base_ = ['./mean-teacher_retinanet_effl0_fpn_1xb4-2k_semi-10pct-bccd.py']
model = dict(threshold=dict(_delete_=True, type='AdaptiveThreshold'))
