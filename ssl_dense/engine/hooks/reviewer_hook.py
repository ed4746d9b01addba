"""Reviewer checkpoints: a small bank of historical teacher weights."""
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ssl_dense.registry import HOOKS

__all__ = ['ReviewerHook']


@HOOKS.register_module()
class ReviewerHook(Hook):
    """Keep the last ``num_snapshots`` teacher snapshots as reviewers.

    A snapshot of the teacher's state (on CPU) is taken every ``interval``
    training iterations (``when='interval'``), or after each validation that
    improves ``metric`` (``when='best'``). The model receives the bank through
    ``set_reviewer_states`` and hands the reviewers to its task adapter as
    extra predictors (detection ensembles their boxes with the teacher's;
    pose uses them to check the teacher's keypoints). The bank is saved in
    checkpoints under ``'reviewer_bank'`` and restored on resume.

    Args:
        num_snapshots (int): Snapshots kept (oldest dropped). Defaults to 1.
        when (str): ``'interval'`` or ``'best'``. Defaults to ``'interval'``.
        interval (int): Iterations between snapshots for ``'interval'``.
            Defaults to 500.
        start_iter (int): No snapshot before this iteration (e.g. the end of
            burn-in). Defaults to 0.
        metric (str): Validation metric for ``'best'``, higher is better.
            Defaults to ``'coco/bbox_mAP'``.
    """

    priority = 'NORMAL'

    def __init__(self, num_snapshots: int = 1, when: str = 'interval', interval: int = 500,
                 start_iter: int = 0, metric: str = 'coco/bbox_mAP') -> None:
        if num_snapshots < 1:
            raise ValueError(f'num_snapshots must be >= 1, got {num_snapshots!r}')
        if when not in ('interval', 'best'):
            raise ValueError(f"when must be 'interval' or 'best', got {when!r}")
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval!r}')
        self.num_snapshots, self.when, self.interval = num_snapshots, when, interval
        self.start_iter, self.metric = start_iter, metric
        self.states: List[Dict[str, torch.Tensor]] = []
        self.iters: List[int] = []
        self.best: Optional[float] = None

    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'set_reviewer_states'):
            raise TypeError(f'ReviewerHook needs a model with set_reviewer_states (e.g. '
                            f'TeacherStudent), got {type(model).__name__}')
        return model

    def _snapshot(self, runner, done: int) -> None:
        """Keep the teacher as it is after ``done`` training iterations."""
        model = self._model(runner)
        state = {k: v.detach().to('cpu', copy=True) for k, v in model.teacher.state_dict().items()}
        self.states.append(state)
        self.iters.append(done)
        del self.states[:-self.num_snapshots], self.iters[:-self.num_snapshots]
        model.set_reviewer_states(self.states)
        runner.logger.info(f'ReviewerHook: teacher snapshot after iteration {done} kept; '
                           f'bank holds iterations {self.iters}')

    def before_train(self, runner) -> None:
        self._model(runner).set_reviewer_states(self.states)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        done = runner.iter + 1
        if self.when == 'interval' and done >= self.start_iter and done % self.interval == 0:
            self._snapshot(runner, done)

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if self.when != 'best' or not metrics or runner.iter < self.start_iter:
            return
        if self.metric not in metrics:
            raise KeyError(f'ReviewerHook metric {self.metric!r} is not among the validation '
                           f'metrics {sorted(metrics)}')
        value = float(metrics[self.metric])
        if self.best is None or value > self.best:
            self.best = value
            self._snapshot(runner, runner.iter)  # validation runs after the increment

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['reviewer_bank'] = dict(states=self.states, iters=self.iters, best=self.best)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        bank = checkpoint.get('reviewer_bank')
        if bank:
            self.states, self.iters, self.best = bank['states'], bank['iters'], bank['best']
