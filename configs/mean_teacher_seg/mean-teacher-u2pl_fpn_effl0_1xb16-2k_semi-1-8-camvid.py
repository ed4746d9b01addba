# U2PL's schedule: drop the top 20 * (1 - t / T) percent highest-entropy pixels,
# keep the rest as pseudo labels.
_base_ = ['./mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
model = dict(threshold=dict(_delete_=True, type='EntropyPercentileThreshold',
                            max_iters={{_base_.max_iters}}, start_percent=20.0))
