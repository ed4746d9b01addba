"""Pseudo-label threshold policies.

A policy turns teacher confidences into per-prediction weights::

    weights = policy(scores, labels)   # 0 drop, 1 keep as a hard label,
                                       # in (0, 1) keep with a soft weight

and learns from what the teacher predicts (:meth:`BaseThreshold.update`) or,
for the dual threshold, from teacher predictions on labeled images that match
ground truth (:meth:`BaseThreshold.update_labeled`). Policies are modules:
their statistics are buffers, so they are saved in checkpoints with the model
and restored on ``--resume``. Under DDP, the statistics of every update are
gathered from all ranks, so all ranks keep the same thresholds.

The same policies serve detection (one score per box), segmentation (one per
pixel) and pose (one per keypoint): ``scores`` and ``labels`` are 1-D tensors
of equal length.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_gather, all_reduce, get_world_size
from mmengine.logging import MessageHub
from torch import Tensor

from ssl_dense.registry import THRESHOLDS

__all__ = ['BaseThreshold', 'FixedThreshold', 'AdaptiveThreshold', 'DualThreshold',
           'GMMThreshold', 'EntropyPercentileThreshold', 'GlobalMaxThreshold',
           'DistributionAlignedThreshold', 'kmeans_1d', 'gmm_1d_threshold', 'gather_across_ranks']


def gather_across_ranks(*tensors: Tensor) -> Tuple[Tensor, ...]:
    """Concatenate 1-D tensors from all ranks (identity without DDP).

    A policy's :meth:`BaseThreshold.update` calls it first, so that every
    rank learns from the predictions of all ranks and keeps the same
    thresholds. Ranks hold different numbers of predictions, and
    ``all_gather`` needs one size: each tensor is padded to the largest and
    cut back after.

    Args:
        *tensors (Tensor): 1-D tensors of one rank, e.g. ``scores, labels``.

    Returns:
        tuple[Tensor]: The same tensors with the entries of every rank, in
        rank order.
    """
    if get_world_size() == 1:
        return tensors
    gathered = []
    for tensor in tensors:
        sizes = [int(n) for n in all_gather(torch.tensor([tensor.numel()], device=tensor.device))]
        padded = tensor.new_zeros(max(sizes))
        padded[:tensor.numel()] = tensor
        gathered.append(torch.cat([part[:n] for part, n in zip(all_gather(padded), sizes)]))
    return tuple(gathered)


class BaseThreshold(nn.Module):
    """Base class of pseudo-label threshold policies.

    Args:
        num_classes (int): Number of classes.
    """

    #: Whether the policy learns from teacher predictions on labeled data
    #: (:meth:`update_labeled`); the model then runs the teacher on them.
    needs_labeled = False
    #: Whether the policy learns from the classes of labeled ground truth
    #: (:meth:`update_gt`); the task adapter must give them (``gt_classes``).
    needs_gt_classes = False
    #: What ``scores`` the policy expects: ``'confidence'`` (max class
    #: probability, or a detector's box score) or ``'certainty'``
    #: (``1 - entropy / log(num_classes)`` of the class distribution, which
    #: only adapters with full distributions, such as segmentation, provide).
    score_type = 'confidence'

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes!r}')
        self.num_classes = num_classes

    def thresholds(self) -> Tensor:
        """Current per-class thresholds, shape (num_classes,), for logging."""
        raise NotImplementedError

    def forward(self, scores: Tensor, labels: Tensor) -> Tensor:
        """Weights for predictions: 1 where ``score >= threshold[label]``, else 0.

        Args:
            scores (Tensor): Confidences in [0, 1], shape (N,).
            labels (Tensor): Class indices, shape (N,).

        Returns:
            Tensor: Float weights of shape (N,).
        """
        self._check(scores, labels)
        return (scores >= self.thresholds().to(scores)[labels]).to(scores.dtype)

    @torch.no_grad()
    def update(self, scores: Tensor, labels: Tensor) -> None:
        """Learn from teacher predictions on unlabeled data (default: nothing)."""

    @torch.no_grad()
    def update_labeled(self, scores: Tensor, labels: Tensor) -> None:
        """Learn from teacher predictions on labeled data that match ground
        truth (default: nothing)."""

    @torch.no_grad()
    def update_gt(self, labels: Tensor) -> None:
        """Learn from the classes of labeled ground truth, 1-D class indices
        (default: nothing)."""

    def _check(self, scores: Tensor, labels: Tensor) -> None:
        if scores.shape != labels.shape or scores.dim() != 1:
            raise ValueError(f'scores and labels must be 1-D of equal length, got '
                             f'{tuple(scores.shape)} and {tuple(labels.shape)}')
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f'labels must be in [0, {self.num_classes - 1}], got '
                             f'{labels.min().item()}..{labels.max().item()}')

    def extra_repr(self) -> str:
        return f'num_classes={self.num_classes}'


@THRESHOLDS.register_module()
class FixedThreshold(BaseThreshold):
    """One fixed threshold, or one per class, with an optional soft band.

    A prediction scoring at least ``thr`` is a hard pseudo label (weight 1).
    With ``low`` below ``thr``, one scoring in ``[low, thr)`` is kept with
    weight equal to its score, like the dual threshold's uncertain band (the
    detection adapter turns such boxes into ignored regions, so likely but
    unsure objects are neither learnt as objects nor as background).

    Args:
        num_classes (int): Number of classes.
        thr (float or list[float]): Threshold(s). mmdet's semi configs use 0.9
            (SoftTeacher) or 0.5-0.7; UniMatch uses 0.95 for pixels.
        low (float or list[float], optional): Lower end of the soft band;
            None (default) means no band.
    """

    def __init__(self, num_classes: int, thr=0.9, low=None) -> None:
        super().__init__(num_classes)
        self.register_buffer('thr', self._per_class(thr, 'thr'))
        self.register_buffer('low', self.thr.clone() if low is None else
                             self._per_class(low, 'low'))
        if (self.low > self.thr).any():
            raise ValueError(f'low must not exceed thr, got low {self.low.tolist()} and thr '
                             f'{self.thr.tolist()}')

    def _per_class(self, value, name: str) -> Tensor:
        value = torch.as_tensor(value, dtype=torch.float32).flatten()
        if value.numel() == 1:
            value = value.expand(self.num_classes).clone()
        if value.numel() != self.num_classes or (value < 0).any() or (value > 1).any():
            raise ValueError(f'{name} must be one value or {self.num_classes} values in [0, 1], '
                             f'got {value.tolist()}')
        return value

    def thresholds(self) -> Tensor:
        return self.thr

    def extra_repr(self) -> str:
        def short(values: Tensor):
            values = [round(v, 4) for v in values.tolist()]
            return values[0] if len(set(values)) == 1 else values
        band = '' if torch.equal(self.low, self.thr) else f', low={short(self.low)}'
        return f'{super().extra_repr()}, thr={short(self.thr)}{band}'

    def forward(self, scores: Tensor, labels: Tensor) -> Tensor:
        self._check(scores, labels)
        thr, low = self.thr.to(scores)[labels], self.low.to(scores)[labels]
        weights = torch.where(scores >= thr, torch.ones_like(scores), scores)
        return torch.where(scores >= low, weights, torch.zeros_like(scores))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before the soft band existed: no band.
        if prefix + 'thr' in state_dict and prefix + 'low' not in state_dict:
            state_dict[prefix + 'low'] = state_dict[prefix + 'thr'].clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


@THRESHOLDS.register_module()
class AdaptiveThreshold(BaseThreshold):
    """Per-class threshold that follows the teacher's confidence in each class.

    For every class, an exponential moving average of the mean score of the
    teacher's predictions of that class (those above ``floor``) is kept::

        ema_c <- momentum * ema_c + (1 - momentum) * mean(scores of class c)
        thr_c = clamp(scale * ema_c, min_thr, max_thr)

    Classes the teacher is sure about get a high threshold; rare or hard
    classes, whose scores stay low, get a lower one (as FreeMatch and
    Dense/Soft-Teacher variants argue). Before a class is seen, its threshold
    is ``init_thr``.

    Args:
        num_classes (int): Number of classes.
        init_thr (float): Threshold before any update. Defaults to 0.7.
        momentum (float): EMA keep rate. Defaults to 0.99.
        scale (float): Multiplier on the mean score. Defaults to 1.0.
        floor (float): Scores below this are ignored in the statistics (most
            raw detector outputs are background noise). Defaults to 0.1.
        min_thr (float): Lower bound. Defaults to 0.3.
        max_thr (float): Upper bound. Defaults to 0.95.
    """

    def __init__(self, num_classes: int, init_thr: float = 0.7, momentum: float = 0.99,
                 scale: float = 1.0, floor: float = 0.1, min_thr: float = 0.3,
                 max_thr: float = 0.95) -> None:
        super().__init__(num_classes)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum!r}')
        if not 0.0 <= min_thr <= init_thr <= max_thr <= 1.0:
            raise ValueError('need 0 <= min_thr <= init_thr <= max_thr <= 1, got '
                             f'{min_thr}, {init_thr}, {max_thr}')
        self.momentum, self.scale, self.floor = momentum, scale, floor
        self.min_thr, self.max_thr = min_thr, max_thr
        self.register_buffer('ema', torch.full((num_classes, ), init_thr / scale))
        self.register_buffer('seen', torch.zeros(num_classes, dtype=torch.bool))

    def thresholds(self) -> Tensor:
        return (self.scale * self.ema).clamp(self.min_thr, self.max_thr)

    @torch.no_grad()
    def update(self, scores: Tensor, labels: Tensor) -> None:
        self._check(scores, labels)
        keep = scores >= self.floor
        scores, labels = gather_across_ranks(scores[keep].float(), labels[keep])
        if not labels.numel():
            return
        sums = torch.zeros(self.num_classes, device=scores.device).index_add_(0, labels, scores)
        counts = torch.bincount(labels, minlength=self.num_classes).to(scores)
        present = counts > 0
        means = sums[present] / counts[present]
        ema = self.ema.to(scores.device)
        # The first observation of a class replaces the initial value.
        first = ~self.seen.to(scores.device)[present]
        updated = torch.where(first, means,
                              self.momentum * ema[present] + (1 - self.momentum) * means)
        self.ema[present.to(self.ema.device)] = updated.to(self.ema)
        self.seen |= present.to(self.seen.device)


class _ScoreBank(BaseThreshold):
    """Keeps the last ``capacity`` scores of each class in a ring buffer.

    An update with more than ``capacity`` scores of a class banks an evenly
    spaced sample of them (sorted; the same on every rank), so the bank keeps
    the update's distribution: detectors return boxes sorted by score, and
    the update's last ``capacity`` would be its lowest scores only.
    """

    def __init__(self, num_classes: int, capacity: int) -> None:
        super().__init__(num_classes)
        if capacity < 2:
            raise ValueError(f'capacity must be >= 2, got {capacity!r}')
        self.capacity = capacity
        self.register_buffer('bank', torch.zeros(num_classes, capacity))
        self.register_buffer('filled', torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer('cursor', torch.zeros(num_classes, dtype=torch.long))

    def _push(self, scores: Tensor, labels: Tensor) -> Tensor:
        """Add scores; return a bool mask of the classes that received any."""
        scores, labels = gather_across_ranks(scores.float(), labels)
        touched = torch.zeros(self.num_classes, dtype=torch.bool)
        for c in labels.unique().tolist():
            new = scores[labels == c]
            if new.numel() > self.capacity:
                pick = torch.linspace(0, new.numel() - 1, self.capacity, device=new.device)
                new = new.sort().values[pick.round().long()]
            new = new.to(self.bank)
            n = new.numel()
            idx = (self.cursor[c] + torch.arange(n, device=self.bank.device)) % self.capacity
            self.bank[c, idx] = new
            self.cursor[c] = (self.cursor[c] + n) % self.capacity
            self.filled[c] = min(self.filled[c].item() + n, self.capacity)
            touched[c] = True
        return touched

    def _scores_of(self, c: int) -> Tensor:
        return self.bank[c, :self.filled[c]]

    def extra_repr(self) -> str:
        return f'num_classes={self.num_classes}, capacity={self.capacity}'


def kmeans_1d(values: Tensor, iters: int = 50):
    """Two-cluster k-means on 1-D values; returns (high centre, low centre).

    Starts from the minimum and maximum, so the result is deterministic.
    """
    values = values.float().flatten()
    low, high = values.min(), values.max()
    for _ in range(iters):
        assign_high = (values - high).abs() < (values - low).abs()
        if assign_high.all() or (~assign_high).all():
            break
        new_high, new_low = values[assign_high].mean(), values[~assign_high].mean()
        if torch.isclose(new_high, high) and torch.isclose(new_low, low):
            break
        high, low = new_high, new_low
    return high.item(), low.item()


@THRESHOLDS.register_module()
class DualThreshold(_ScoreBank):
    """Per-class high/low thresholds from labeled images (HSSDA).

    The teacher's scores on *labeled* images, for predictions that match a
    ground-truth object (the task adapter decides what matches, e.g. IoU >=
    0.5), are banked per class. Every ``update_interval`` updates the two
    centres of a 2-cluster k-means over a class's bank become its high and low
    thresholds. A prediction scoring at least ``high`` is a hard pseudo label
    (weight 1); between ``low`` and ``high`` it is kept with weight equal to
    its score (a soft label); below ``low`` it is dropped.

    Args:
        num_classes (int): Number of classes.
        init_high (float): High threshold before statistics exist.
            Defaults to 0.7.
        init_low (float): Low threshold before statistics exist.
            Defaults to 0.3.
        capacity (int): Scores kept per class. Defaults to 500.
        min_samples (int): Scores a class needs before its thresholds move.
            Defaults to 20.
        update_interval (int): Recompute every this many labeled updates.
            Defaults to 10.
    """

    needs_labeled = True

    def __init__(self, num_classes: int, init_high: float = 0.7, init_low: float = 0.3,
                 capacity: int = 500, min_samples: int = 20, update_interval: int = 10) -> None:
        super().__init__(num_classes, capacity)
        if not 0.0 <= init_low <= init_high <= 1.0:
            raise ValueError(f'need 0 <= init_low <= init_high <= 1, got {init_low}, '
                             f'{init_high}')
        self.min_samples, self.update_interval = min_samples, update_interval
        self.register_buffer('high', torch.full((num_classes, ), float(init_high)))
        self.register_buffer('low', torch.full((num_classes, ), float(init_low)))
        self.register_buffer('num_updates', torch.zeros((), dtype=torch.long))

    def thresholds(self) -> Tensor:
        return self.high

    def forward(self, scores: Tensor, labels: Tensor) -> Tensor:
        self._check(scores, labels)
        high = self.high.to(scores)[labels]
        low = self.low.to(scores)[labels]
        weights = torch.where(scores >= high, torch.ones_like(scores), scores)
        return torch.where(scores >= low, weights, torch.zeros_like(scores))

    @torch.no_grad()
    def update_labeled(self, scores: Tensor, labels: Tensor) -> None:
        self._check(scores, labels)
        self._push(scores, labels)
        self.num_updates += 1
        if self.num_updates.item() % self.update_interval:
            return
        for c in range(self.num_classes):
            if self.filled[c] >= self.min_samples:
                high, low = kmeans_1d(self._scores_of(c))
                self.high[c], self.low[c] = high, low


def gmm_1d_threshold(values: Tensor, iters: int = 100) -> Optional[float]:
    """Fit a 2-component 1-D Gaussian mixture; return where the high one wins.

    Returns the smallest observed value whose posterior under the component
    with the larger mean is at least 0.5, or None if the fit degenerates.
    """
    x = values.double().flatten()
    if x.numel() < 2 or (x.max() - x.min()) < 1e-6:
        return None
    mu = torch.stack([x.min(), x.max()])
    var = torch.full((2, ), x.var().item() + 1e-6, dtype=x.dtype)
    pi = torch.full((2, ), 0.5, dtype=x.dtype)
    for _ in range(iters):
        log_p = (-0.5 * (x[:, None] - mu) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)
                 + torch.log(pi))
        resp = torch.softmax(log_p, dim=1)
        nk = resp.sum(0) + 1e-12
        new_mu = (resp * x[:, None]).sum(0) / nk
        var = (resp * (x[:, None] - new_mu) ** 2).sum(0) / nk + 1e-6
        pi = nk / nk.sum()
        converged = torch.allclose(new_mu, mu, atol=1e-7)
        mu = new_mu
        if converged:
            break
    hi = int(mu.argmax())
    log_p = (-0.5 * (x[:, None] - mu) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)
             + torch.log(pi))
    wins = torch.softmax(log_p, dim=1)[:, hi] >= 0.5
    wins &= x >= mu.min()  # the low component's far tail is not "high"
    return x[wins].min().item() if wins.any() else None


@THRESHOLDS.register_module()
class GMMThreshold(_ScoreBank):
    """Per-class threshold from a 2-component Gaussian mixture (Consistent-Teacher).

    The latest ``capacity`` teacher scores of each class (above ``floor``;
    a sample of an update that brings more) are modelled as a mixture of a
    low (noise) and a high (object) Gaussian; the threshold is the lowest
    banked score where the high component is the more probable one, clamped
    to [``min_thr``, ``max_thr``].

    Args:
        num_classes (int): Number of classes.
        init_thr (float): Threshold before enough scores. Defaults to 0.7.
        capacity (int): Scores kept per class (100 in Consistent-Teacher).
            Defaults to 100.
        floor (float): Scores below this are not banked. Defaults to 0.05.
        min_samples (int): Scores a class needs before its threshold moves.
            Defaults to 20.
        min_thr (float): Lower bound. Defaults to 0.1.
        max_thr (float): Upper bound. Defaults to 0.95.
    """

    def __init__(self, num_classes: int, init_thr: float = 0.7, capacity: int = 100,
                 floor: float = 0.05, min_samples: int = 20, min_thr: float = 0.1,
                 max_thr: float = 0.95) -> None:
        super().__init__(num_classes, capacity)
        self.floor, self.min_samples = floor, min_samples
        self.min_thr, self.max_thr = min_thr, max_thr
        self.register_buffer('thr', torch.full((num_classes, ), float(init_thr)))

    def thresholds(self) -> Tensor:
        return self.thr

    @torch.no_grad()
    def update(self, scores: Tensor, labels: Tensor) -> None:
        self._check(scores, labels)
        keep = scores >= self.floor
        touched = self._push(scores[keep], labels[keep])
        for c in touched.nonzero().flatten().tolist():
            if self.filled[c] >= self.min_samples:
                thr = gmm_1d_threshold(self._scores_of(c))
                if thr is not None:
                    self.thr[c] = min(max(thr, self.min_thr), self.max_thr)


class _GlobalThreshold(BaseThreshold):
    """A policy with one threshold for every class, kept in the scalar
    buffer ``thr`` that subclasses register and update."""

    def thresholds(self) -> Tensor:
        return self.thr.expand(self.num_classes)

    def forward(self, scores: Tensor, labels: Tensor) -> Tensor:
        self._check(scores, labels)
        return (scores >= self.thr.to(scores)).to(scores.dtype)


@THRESHOLDS.register_module()
class EntropyPercentileThreshold(_GlobalThreshold):
    """Drop the most uncertain share of predictions, a share that shrinks
    over training (U2PL).

    At training iteration ``t`` of ``max_iters``, the ``start_percent * (1 -
    t / max_iters)`` % of the batch's predictions with the highest entropy
    are dropped and all others kept (U2PL: 20 % at the start, 0 % at the
    end). ``t`` is the runner's iteration (mmengine's MessageHub ``iter``),
    so iterations before the first update (a burn-in) count as U2PL's
    supervised-only epoch does; outside a runner, ``t`` is the number of
    updates so far. ``T`` is ``max_iters`` when given, else the runner's
    (MessageHub ``max_iters``), so a schedule stretched with
    ``--cfg-options train_cfg.max_iters=...`` stretches this one too. Scores
    are certainties, ``1 - entropy / log(num_classes)`` (``score_type =
    'certainty'``); the adapter computes them.

    Args:
        num_classes (int): Number of classes.
        max_iters (int, optional): Training iterations ``T``. Defaults to
            None: the runner's ``max_iters`` (needed outside a runner).
        start_percent (float): Share dropped at the start, in percent.
            Defaults to 20.
    """

    score_type = 'certainty'

    def __init__(self, num_classes: int, max_iters: Optional[int] = None,
                 start_percent: float = 20.0) -> None:
        super().__init__(num_classes)
        if (max_iters is not None and max_iters < 1) or not 0.0 <= start_percent < 100.0:
            raise ValueError(f'need max_iters >= 1 (or None) and 0 <= start_percent < 100, got '
                             f'{max_iters}, {start_percent}')
        self.max_iters, self.start_percent = max_iters, start_percent
        self.register_buffer('num_updates', torch.zeros((), dtype=torch.long))
        self.register_buffer('thr', torch.zeros(()))

    def drop_percent(self) -> float:
        """Share (percent) of predictions dropped at the current iteration."""
        hub = MessageHub.get_current_instance()
        step = hub.get_info('iter', None)
        if step is None:
            step = self.num_updates.item()
        total = self.max_iters or hub.get_info('max_iters', None)
        if not total:
            raise RuntimeError('EntropyPercentileThreshold(max_iters=None) takes T from the '
                               "runner's max_iters, and there is none (outside a runner?): "
                               'pass max_iters')
        progress = min(step / total, 1.0)
        return self.start_percent * (1.0 - progress)

    @torch.no_grad()
    def update(self, scores: Tensor, labels: Tensor) -> None:
        self._check(scores, labels)
        (scores, ) = gather_across_ranks(scores.float())
        percent = self.drop_percent()
        self.num_updates += 1
        if not scores.numel() or percent <= 0:
            self.thr.zero_()
            return
        self.thr.fill_(torch.quantile(scores.cpu(), percent / 100.0).item())


@THRESHOLDS.register_module()
class GlobalMaxThreshold(_GlobalThreshold):
    """One adaptive global threshold from the classes' most confident
    predictions (CorrMatch).

    Every update takes, for each class predicted in the batch, the highest
    score of a prediction of that class, averages these over the classes, and
    moves the threshold towards the average::

        thr <- momentum * thr + (1 - momentum) * mean_c(max score of class c)

    Args:
        num_classes (int): Number of classes.
        init_thr (float): Starting threshold. Defaults to 0.85 (CorrMatch).
        momentum (float): Keep rate of the old threshold. Defaults to 0.999.
    """

    def __init__(self, num_classes: int, init_thr: float = 0.85,
                 momentum: float = 0.999) -> None:
        super().__init__(num_classes)
        if not 0.0 <= momentum < 1.0 or not 0.0 <= init_thr <= 1.0:
            raise ValueError(f'need momentum in [0, 1) and init_thr in [0, 1], got '
                             f'{momentum}, {init_thr}')
        self.momentum = momentum
        self.register_buffer('thr', torch.tensor(float(init_thr)))

    @torch.no_grad()
    def update(self, scores: Tensor, labels: Tensor) -> None:
        self._check(scores, labels)
        scores, labels = gather_across_ranks(scores.float(), labels)
        if not scores.numel():
            return
        maxima = torch.full((self.num_classes, ), -1.0, device=scores.device)
        maxima = maxima.scatter_reduce(0, labels, scores, reduce='amax')
        present = maxima >= 0
        target = maxima[present].mean().to(self.thr)
        self.thr.mul_(self.momentum).add_((1 - self.momentum) * target)


@THRESHOLDS.register_module()
class DistributionAlignedThreshold(BaseThreshold):
    """Per-class thresholds that make the pseudo labels' class shares follow
    the labeled ground truth's (DARS, He et al., ICCV 2021).

    A single high threshold keeps what the teacher is already sure of: on
    street scenes mostly road, sky and building, and no pole, sign or
    pedestrian pixel at all. This policy decides first *how many*
    predictions to keep and then *which*: every update,

    1. the budget ``n`` is the number of the batch's predictions scoring at
       least ``base_thr`` (what :class:`FixedThreshold` ``thr=base_thr``
       would keep);
    2. class ``c`` is given ``n_c = round(n * share_c)`` of it, where
       ``share_c`` is the share of class ``c`` among labeled ground-truth
       labels (counted from every labeled batch seen so far, see
       :meth:`update_gt`, or fixed by ``class_shares``);
    3. the batch threshold of class ``c`` is the score of its ``n_c``-th most
       confident prediction, or ``min_thr`` when the teacher predicts ``c``
       fewer than ``n_c`` times; it is clamped to [``min_thr``,
       ``max_thr``], and the kept threshold moves towards it,
       ``thr_c <- momentum * thr_c + (1 - momentum) * batch_thr_c`` (the
       first batch that predicts ``c`` sets it).

    Classes the teacher is sure of thus get a threshold above ``base_thr``,
    and classes it rarely predicts one down to ``min_thr``. Classes not
    predicted in a batch keep their threshold; a class with no labeled pixel
    is given ``max_thr``. Until the first labeled ground truth every
    threshold is ``base_thr``.

    Args:
        num_classes (int): Number of classes.
        base_thr (float): Threshold that sets the budget, and the threshold
            of every class before class shares are known. Defaults to 0.95
            (UniMatch's fixed pixel threshold).
        min_thr (float): Lowest threshold of any class. Defaults to 0.5.
        max_thr (float): Highest threshold of any class. Defaults to 0.999.
        momentum (float): Keep rate of the thresholds between batches.
            Defaults to 0.9.
        class_shares (list[float], optional): Fixed target shares (any
            non-negative numbers, normalised to sum 1) instead of counting
            labeled ground truth. Defaults to None.
    """

    #: Learns class shares from labeled ground truth (:meth:`update_gt`).
    needs_gt_classes = True

    def __init__(self, num_classes: int, base_thr: float = 0.95, min_thr: float = 0.5,
                 max_thr: float = 0.999, momentum: float = 0.9,
                 class_shares: Optional[list] = None) -> None:
        super().__init__(num_classes)
        if not 0.0 <= min_thr <= base_thr <= max_thr <= 1.0:
            raise ValueError('need 0 <= min_thr <= base_thr <= max_thr <= 1, got '
                             f'{min_thr}, {base_thr}, {max_thr}')
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum!r}')
        self.base_thr, self.min_thr, self.max_thr = base_thr, min_thr, max_thr
        self.momentum = momentum
        self.fixed_shares = class_shares is not None
        counts = torch.zeros(num_classes, dtype=torch.float64)
        if class_shares is not None:
            counts = torch.as_tensor(class_shares, dtype=torch.float64).flatten()
            if counts.numel() != num_classes or (counts < 0).any() or counts.sum() <= 0:
                raise ValueError(f'class_shares must be {num_classes} non-negative values with '
                                 f'a positive sum, got {list(class_shares)}')
        self.register_buffer('gt_counts', counts)
        self.register_buffer('thr', torch.full((num_classes, ), float(base_thr)))
        self.register_buffer('seen', torch.zeros(num_classes, dtype=torch.bool))

    def thresholds(self) -> Tensor:
        return self.thr

    def class_shares(self) -> Optional[Tensor]:
        """Target share of every class (sums to 1), or None before any
        labeled ground truth."""
        total = self.gt_counts.sum()
        return None if total <= 0 else (self.gt_counts / total).float()

    @torch.no_grad()
    def update_gt(self, labels: Tensor) -> None:
        """Count the classes of labeled ground truth (1-D class indices, e.g.
        every labeled pixel that is not ignored); nothing with ``class_shares``."""
        if labels.dim() != 1:
            raise ValueError(f'labels must be 1-D, got shape {tuple(labels.shape)}')
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f'ground-truth labels must be in [0, {self.num_classes - 1}], got '
                             f'{labels.min().item()}..{labels.max().item()}')
        if self.fixed_shares:
            return
        counts = torch.bincount(labels.long(), minlength=self.num_classes).double()
        if get_world_size() > 1:
            counts = counts.to(self.gt_counts.device)
            all_reduce(counts)
        self.gt_counts += counts.to(self.gt_counts.device)

    @torch.no_grad()
    def update(self, scores: Tensor, labels: Tensor) -> None:
        self._check(scores, labels)
        shares = self.class_shares()
        scores, labels = gather_across_ranks(scores.float(), labels)
        if shares is None or not scores.numel():
            return
        budget = int((scores >= self.base_thr).sum())
        wanted = (budget * shares).round().long().tolist()
        for c in labels.unique().tolist():
            if wanted[c] == 0:
                batch_thr = self.max_thr
            else:
                class_scores = scores[labels == c]
                if class_scores.numel() < wanted[c]:
                    batch_thr = self.min_thr
                else:
                    batch_thr = class_scores.topk(wanted[c]).values[-1].item()
            batch_thr = min(max(batch_thr, self.min_thr), self.max_thr)
            if self.seen[c]:
                batch_thr = self.momentum * self.thr[c].item() + (1 - self.momentum) * batch_thr
            self.thr[c] = batch_thr
            self.seen[c] = True

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, base_thr={self.base_thr}, min_thr={self.min_thr}, '
                f'max_thr={self.max_thr}, momentum={self.momentum}')
