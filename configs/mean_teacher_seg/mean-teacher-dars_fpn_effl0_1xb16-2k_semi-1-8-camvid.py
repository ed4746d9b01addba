# Distribution-aligned pixel thresholds (DARS, He et al., ICCV 2021): keep as
# many pseudo-labelled pixels as UniMatch's fixed 0.95 would, but share them
# among the classes as the labeled pixels are shared. Each class's threshold
# becomes the score of its n_c-th most confident pixel in the batch (n_c =
# budget x the class's labeled share), clamped to [0.5, 0.999] and smoothed
# over batches (keep rate 0.9). The 0.95 threshold keeps almost only road,
# sky and building; here pole, sign, fence and pedestrian pixels that the
# teacher predicts get their labeled share of the budget too.
_base_ = ['./mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
model = dict(threshold=dict(_delete_=True, type='DistributionAlignedThreshold', base_thr=0.95,
                            min_thr=0.5, max_thr=0.999, momentum=0.9))
