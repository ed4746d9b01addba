# U2PL's schedule: drop the top 20 * (1 - t / T) percent highest-entropy pixels,
# keep the rest as pseudo labels. T is the runner's max_iters (no max_iters
# here), so `--cfg-options train_cfg.max_iters=...` stretches this schedule too.
_base_ = ['./mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
model = dict(threshold=dict(_delete_=True, type='EntropyPercentileThreshold', start_percent=20.0))
