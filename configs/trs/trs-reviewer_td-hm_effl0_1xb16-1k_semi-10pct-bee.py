# + reviewer: one historical teacher (taken every 150 iterations after the
# burn-in) must agree with the teacher on a keypoint (arg-max distance at most
# 5 % of the heatmap diagonal) and adds a consistency loss on agreed keypoints.
# At threshold 0.6, a model of iteration 450 with the one of 300 as reviewer
# (split seed 1, pose_pseudo_label_quality.py) drops 12 % of the confident
# keypoints: precision 86 -> 89 %, recall 63 -> 57 %; 3 % of the diagonal drops
# more recall for no more precision.
_base_ = ['./mean-teacher_td-hm_effl0_1xb16-1k_semi-10pct-bee.py']
model = dict(adapter=dict(type='PoseAdapter', agree_dist=0.05, reviewer_weight=1.0))
custom_hooks = [*_base_.custom_hooks, _base_.reviewer_hook]
