# Mean teacher with the GMMThreshold policy: per-class 2-component GMM over
# the last 100 scores (Consistent-Teacher).
_base_ = ['./mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py']
model = dict(threshold=dict(_delete_=True, type='GMMThreshold'))
