"""Re-estimate batch-norm running statistics before a model is validated and
saved ("precise BN", as detectron2's ``PreciseBN`` hook does).

Running statistics are an exponential average over past iterations, so they
trail the weights (EfficientNet-Lite's BN momentum is 0.01: about the last
100 iterations). An EMA teacher is worse off: its weights average the student
over a long window while its statistics are copied from the student
(``TeacherEMAHook(buffers='copy')``) or averaged with another window
(``'ema'``); neither matches the weights it predicts with. Re-estimating the
statistics as a plain average over a few training batches, with the weights
fixed, removes the mismatch.
"""
import copy
from typing import Callable, Iterable, Iterator, List, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmengine.utils import ProgressBar
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from ssl_dense.registry import HOOKS


def recompute_bn_stats(module: nn.Module, views: Iterable[tuple],
                       forward: Callable[..., object]) -> int:
    """Set the running statistics of every batch norm in ``module`` to the
    plain (not exponential) average over ``views``.

    Only the batch norms run in training mode while the views pass through
    ``forward``, so dropout and drop-path stay off; weights do not change.
    Batch norms that ``module.train()`` leaves in eval mode (frozen, e.g.
    ``norm_eval=True``) and those no view reaches keep their statistics; if
    ``forward`` raises, every batch norm gets its old statistics back. The
    module's training flags are restored afterwards.

    Args:
        module (nn.Module): Model whose batch norms are re-estimated.
        views (iterable of tuple): Arguments of ``forward`` per batch, e.g.
            ``(inputs, data_samples)`` from :func:`clean_views`.
        forward (callable): Runs one batch through ``module``
            (e.g. ``lambda x, s: module(x, s, mode='tensor')``).

    Returns:
        int: How many batch norms were re-estimated.
    """
    modes = {m: m.training for m in module.modules()}
    # The model's own train() decides which norms learn statistics: a
    # backbone with norm_eval=True keeps its frozen ones in eval mode.
    module.train()
    norms = [m for m in module.modules()
             if isinstance(m, _BatchNorm) and m.track_running_stats and m.training]
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(),
              m.num_batches_tracked.clone()) for m in norms]
    reached = set()
    handles = [m.register_forward_pre_hook(lambda mod, _: reached.add(mod)) for m in norms]
    finished = False
    try:
        module.eval()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
            m.train()
        with torch.no_grad():
            for args in views:
                forward(*args)
        finished = True
    finally:
        for h in handles:
            h.remove()
        for m, (momentum, mean, var, count) in zip(norms, saved):
            m.momentum = momentum
            if m not in reached or not finished:  # an error loses nothing
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)
        for m, training in modes.items():
            m.train(training)
    return len(reached)


def clean_views(model: nn.Module, batches: Iterable, num_batches: int,
                branches: Optional[Sequence[str]] = None,
                progress: bool = False) -> Iterator[tuple]:
    """Preprocessed inputs and data samples of the first ``num_batches`` of
    ``batches``.

    Args:
        model (nn.Module): Model whose ``data_preprocessor`` prepares them
            (in training mode, as the training step would).
        batches (iterable): Data batches, e.g. a training dataloader.
        num_batches (int): How many batches to take.
        branches (sequence of str, optional): For multi-view batches (a dict
            of branch -> tensor), the branches to yield, in order. Required
            for those batches.
        progress (bool): Show a progress bar. Defaults to False.

    Yields:
        tuple: ``(inputs, data_samples)`` per batch (and branch).
    """
    bar = ProgressBar(num_batches) if progress else None
    taken = 0
    while taken < num_batches:
        before = taken
        for batch in batches:  # a loader shorter than num_batches is read again
            yield from _views(model, batch, branches)
            taken += 1
            if bar is not None:
                bar.update()
            if taken >= num_batches:
                break  # before reading another batch: a shared stream loses none
        if taken == before:
            raise ValueError(f'asked for {num_batches} batches to re-estimate batch norms, '
                             f'the data gave {taken}')


def _views(model: nn.Module, batch, branches: Optional[Sequence[str]]) -> Iterator[tuple]:
    data = model.data_preprocessor(batch, True)
    inputs, samples = data['inputs'], data.get('data_samples')
    if isinstance(inputs, dict):
        if not branches:
            raise ValueError(f'multi-view batches (branches {sorted(inputs)}) need '
                             f'`branches` to say which views to use')
        missing = [b for b in branches if b not in inputs]
        if missing:
            raise KeyError(f'the batches have no branches {missing}; they have '
                           f'{sorted(inputs)}')
        yield from ((inputs[b], samples[b] if samples else None) for b in branches)
    else:
        yield inputs, samples


def precise_bn(model: nn.Module, batches: Iterable, num_batches: int,
               branches: Optional[Sequence[str]] = None,
               members: Optional[Sequence[str]] = None, progress: bool = False) -> List[str]:
    """Re-estimate the batch norms of ``model`` on ``num_batches`` batches.

    A teacher-student model (one with ``teacher`` and ``student``) has each
    member in ``members`` re-estimated on its own; the views default to the
    clean branches (``model.branches['labeled']`` and ``['weak']``), never
    the strongly perturbed one. Any other model is re-estimated as a whole.

    Args:
        model (nn.Module): The (unwrapped) model.
        batches (iterable): Training data batches.
        num_batches (int): Batches to average over.
        branches (sequence of str, optional): Views of multi-view batches.
        members (sequence of str, optional): Members of a teacher-student
            model. Defaults to both.
        progress (bool): Show a progress bar per member.

    Returns:
        list[str]: What was re-estimated (member names, or ``['model']``).
    """
    if hasattr(model, 'teacher') and hasattr(model, 'student'):
        if branches is None and hasattr(model, 'branches'):
            branches = [model.branches['labeled'], model.branches['weak']]
        targets = [(name, getattr(model, name)) for name in (members or ('teacher', 'student'))]
    else:
        targets = [('model', model)]
    for _, target in targets:
        recompute_bn_stats(target, clean_views(model, batches, num_batches, branches, progress),
                           lambda x, s, t=target: t(x, s, mode='tensor'))
    return [name for name, _ in targets]


def training_batches(runner, dataloader: Optional[dict] = None,
                     num_workers: Optional[int] = None) -> Iterator:
    """Endless training batches from a loader of their own.

    The loader is built from ``dataloader`` (default: the runner config's
    ``train_dataloader``) over the runner's training dataset object, with a
    sampler of its own seeded like the run (mmengine's ``InfiniteSampler``
    keeps one index stream per object, so the training loader's sampler
    cannot be shared) and without persistent workers.

    Args:
        runner (Runner): The runner.
        dataloader (dict, optional): Loader config; its dataset is replaced.
        num_workers (int, optional): Workers (default: the config's).

    Returns:
        Iterator: Batches, epoch after epoch.
    """
    cfg = dataloader or runner.cfg.get('train_dataloader')
    if not cfg:
        raise ValueError('precise BN builds its own loader from the config\'s '
                         '`train_dataloader`; this runner has no config (build it with '
                         'Runner.from_cfg) and no `dataloader` was given')
    cfg = copy.deepcopy(dict(cfg))
    cfg.update(dataset=runner.train_dataloader.dataset, persistent_workers=False)
    if num_workers is not None:
        cfg['num_workers'] = num_workers
    return _endless(runner.build_dataloader(cfg, seed=runner.seed))


def _endless(loader: DataLoader) -> Iterator:
    """Batches of ``loader``, epoch after epoch, from one iterator (an
    ``InfiniteSampler`` cannot be iterated afresh once a loop over it stopped)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError('the loader of PreciseBNHook gave no batches')


@HOOKS.register_module()
class PreciseBNHook(Hook):
    """Re-estimate batch-norm statistics before validation and saving.

    Runs after the training iterations (epochs, for an epoch-based loop) at
    which the train loop validates (every ``val_interval`` and the last one)
    or, with ``interval``, every that many and the last one. It runs after
    :class:`TeacherEMAHook` has updated the teacher and before
    ``CheckpointHook`` saves, so the checkpoint of that iteration holds the
    re-estimated statistics and ``tools/test.py`` reproduces the validation.

    The batches come from a separate loader over the training dataset, built
    from the training loader's config with a sampler of its own (seeded like
    the run's), so the training batches are not consumed; each call reads on
    where the last one stopped. Cost: ``num_batches`` forward passes per view per
    member, no backward.

    With a teacher-student model, each of ``members`` gets statistics for
    its own weights. Under ``TeacherEMAHook(buffers='copy')`` the teacher's
    are overwritten at the next iteration; the student's carry on from the
    new values (they then reach the teacher through the copy), so an
    ``interval`` shorter than training changes training slightly.

    Args:
        num_batches (int): Training batches to average over. Defaults to 40.
        branches (sequence of str, optional): Views of multi-view batches
            (default: the model's labeled and weak branches).
        members (sequence of str, optional): Members of a teacher-student
            model to re-estimate. Defaults to both.
        interval (int, optional): Re-estimate every this many iterations or
            epochs (and at the last). Defaults to the train loop's
            ``val_interval``.
        num_workers (int, optional): Workers of the separate loader
            (default: those of the training loader).
        dataloader (dict, optional): Config of the separate loader; its
            dataset is replaced by the training dataset object. Defaults to
            the config's ``train_dataloader``.
    """

    priority = 'LOW'  # after TeacherEMAHook (ABOVE_NORMAL), before CheckpointHook (VERY_LOW)

    def __init__(self, num_batches: int = 40, branches: Optional[Sequence[str]] = None,
                 members: Optional[Sequence[str]] = None, interval: Optional[int] = None,
                 num_workers: Optional[int] = None, dataloader: Optional[dict] = None) -> None:
        if num_batches < 1:
            raise ValueError(f'num_batches must be >= 1, got {num_batches!r}')
        if interval is not None and interval < 1:
            raise ValueError(f'interval must be >= 1 or None, got {interval!r}')
        if members is not None:
            unknown = set(members) - {'teacher', 'student'}
            if unknown or not members:
                raise ValueError(f"members must name 'teacher' and/or 'student', got {members!r}")
        self.num_batches = num_batches
        self.branches = list(branches) if branches else None
        self.members = list(members) if members else None
        self.interval = interval
        self.num_workers = num_workers
        self.dataloader = dataloader
        self._stream: Optional[Iterator] = None

    def _due(self, runner, done: int, last: int) -> bool:
        """Whether ``done`` (iterations, or epochs for an epoch-based loop)
        calls for re-estimation: the last one, every ``interval``, or where
        the train loop validates."""
        if done >= last:
            return True
        interval = self.interval or getattr(runner.train_loop, 'val_interval', None)
        begin = 1 if self.interval else getattr(runner.train_loop, 'val_begin', 1)
        return bool(interval) and done >= begin and done % interval == 0

    def _batches(self, runner) -> Iterator:
        if self._stream is None:
            self._stream = training_batches(runner, self.dataloader, self.num_workers)
        return self._stream

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop) and \
                self._due(runner, runner.iter + 1, runner.max_iters):
            self._run(runner, f'iteration {runner.iter + 1}')

    def after_train_epoch(self, runner) -> None:
        if isinstance(runner.train_loop, EpochBasedTrainLoop) and \
                self._due(runner, runner.epoch + 1, runner.max_epochs):
            self._run(runner, f'epoch {runner.epoch + 1}')

    def _run(self, runner, when: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        done = precise_bn(model, self._batches(runner), self.num_batches, self.branches,
                          self.members)
        runner.logger.info(f'precise BN: re-estimated the batch norms of {", ".join(done)} '
                           f'on {self.num_batches} training batches after {when}')
