# CorrMatch-style adaptive global threshold: from 0.85, EMA (0.999) of the
# mean per-class maximum confidence.
_base_ = ['./mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
model = dict(threshold=dict(_delete_=True, type='GlobalMaxThreshold', init_thr=0.85,
                            momentum=0.999))
