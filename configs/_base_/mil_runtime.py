# Runtime of the MIL configs: epoch-based logs and one checkpoint at the end.
_base_ = ['./default_runtime.py']
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(by_epoch=True, interval=-1, save_last=True, max_keep_ckpts=1))
log_processor = dict(by_epoch=True)
