# Full Teacher-Reviewer-Student: reviewer + Multi-level Feature Learning +
# Keypoint-Mix (each described in its own config beside this one).
_base_ = ['./trs-mlfl_td-hm_effl0_1xb16-1k_semi-10pct-bee.py']
model = dict(
    adapter=dict(type='PoseAdapter', agree_dist=0.05, reviewer_weight=1.0),
    strong_batch_augments=[dict(type='KeypointMix', num_keypoints=2, patch_size=0.125, prob=0.5)])
custom_hooks = [*_base_.custom_hooks, _base_.reviewer_hook]
