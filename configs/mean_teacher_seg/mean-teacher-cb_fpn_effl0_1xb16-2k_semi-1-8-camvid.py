# Mean teacher, fixed 0.95 threshold, with class-balanced pseudo-label loss:
# each pseudo-labelled pixel weighs (n_c / n_max) ** -0.5 within its batch
# (capped at 10x), so the large classes the teacher is confident about (sky,
# road, building) stop dominating the student's loss on unlabeled images.
_base_ = ['./mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
model = dict(adapter=dict(
    pseudo_pixel_sampler=dict(type='ClassBalancedPixelSampler', power=0.5, max_weight=10.0)))
