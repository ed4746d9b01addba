# Full Teacher-Reviewer-Student with soft targets: the student learns the
# teacher's own weak-view heatmaps (and the reviewer's, for the reviewer loss),
# warped to the strong view and peak-normalised (PoseDual-style), instead of
# Gaussians redrawn at their arg-max. Which keypoints count (threshold 0.6,
# reviewer agreement, inside the crop) is unchanged.
_base_ = ['./trs_td-hm_effl0_1xb16-1k_semi-10pct-bee.py']
model = dict(adapter=dict(pseudo_targets='teacher'))
