"""Timing helpers shared by the iteration-speed benchmarks."""
import time
from typing import List

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

__all__ = ['IterTimes', 'train_timed', 'no_burn_in']


class IterTimes(Hook):
    """Records the wall time of every training iteration (data loading included)."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.times: List[float] = []
        self._start = 0.0

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.times.append(time.perf_counter() - self._start)


def no_burn_in(cfg: Config) -> Config:
    """Switch off the burn-in and ramps of ssl_dense's hooks, so every timed
    iteration runs the teacher and the unlabeled branch."""
    for hook in cfg.get('custom_hooks', []):
        if hook.type in ('TeacherEMAHook', 'UnsupWeightHook'):
            hook.burn_in_iters = 0
        if hook.type == 'UnsupWeightHook':
            hook.ramp_iters = 0
    return cfg


def train_timed(cfg: Config, iters: int, work_dir: str) -> List[float]:
    """Train ``cfg`` for ``iters`` iterations (no validation, checkpoint or LR
    schedule); return the time of every iteration."""
    cfg.work_dir = work_dir
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters + 1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=iters + 1)
    cfg.pop('param_scheduler', None)
    runner = Runner.from_cfg(cfg)
    timer = IterTimes()
    runner.register_hook(timer)
    runner.train()
    return timer.times
