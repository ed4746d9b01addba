# Per-class adaptive pixel threshold: each class's threshold follows an EMA
# (keep rate 0.99) of the teacher's mean confidence on the pixels it labels
# with that class, clamped to [0.7, 0.95]. Road and sky, which the teacher is
# sure of, keep UniMatch's 0.95; thin and rare classes (pole, sign,
# pedestrian), whose confidence stays low, get a lower bar.
_base_ = ['./mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
model = dict(threshold=dict(_delete_=True, type='AdaptiveThreshold', init_thr=0.95,
                            momentum=0.99, floor=0.0, min_thr=0.7, max_thr=0.95))
