# The 2k mean teacher with an ignore band: pseudo boxes scoring 0.5 or more
# are ground truth of the strong view; those scoring in [0.2, 0.5) become
# ignored regions (anchors on them are neither background nor object), so an
# object the teacher is unsure about is not taught to the student as
# background.
_base_ = ['./mean-teacher_retinanet_effl0_fpn_1xb4-2k_semi-10pct-bccd.py']
model = dict(threshold=dict(type='FixedThreshold', thr=0.5, low=0.2))
