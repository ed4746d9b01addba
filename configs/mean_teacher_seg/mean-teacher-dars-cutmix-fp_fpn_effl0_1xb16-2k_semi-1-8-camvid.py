# Distribution-aligned pixel thresholds (see mean-teacher-dars_...) with
# UniMatch's CutMix between unlabeled strong views (p 0.5, area 0.02-0.4) and
# the feature-perturbation branch (Dropout2d 0.5, weight 0.5).
_base_ = ['./mean-teacher-dars_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
model = dict(
    strong_batch_augments=[dict(type='SegCutMix', prob=0.5, area=(0.02, 0.4))],
    adapter=dict(feature_perturbation=dict(p=0.5, weight=0.5)))
