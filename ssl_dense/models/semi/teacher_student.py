"""Task-agnostic teacher-student model (mean teacher).

The student is any task model built from its config (an mmdet detector, an
mmseg segmentor, an mmpose estimator, ...). The teacher is a frozen copy that
:class:`~ssl_dense.engine.TeacherEMAHook` keeps an exponential moving average
of the student. Each training batch may hold labeled samples (branch
``labeled``) and unlabeled samples seen twice (branches ``weak`` and
``strong``, see :class:`~ssl_dense.datasets.MultiView`). A task adapter
(:class:`~ssl_dense.models.semi.BaseTaskAdapter`) does everything that
depends on the task.
"""
import copy
import logging
from collections import deque
from contextlib import contextmanager
from typing import Deque, Dict, Iterator, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseDataPreprocessor, BaseModel
from torch import Tensor

from ssl_dense.registry import MODELS, TASK_UTILS, THRESHOLDS
from ssl_dense.utils.typing_utils import ConfigType, OptConfigType, OptMultiConfig
from .adapter import BaseTaskAdapter

__all__ = ['TeacherStudent', 'MultiViewPreprocessor', 'DEFAULT_BRANCHES']

#: Branch roles and their default names (mmdet's semi configs use the same).
DEFAULT_BRANCHES = dict(labeled='sup', weak='unsup_weak', strong='unsup_strong')


class MultiViewPreprocessor(BaseDataPreprocessor):
    """Apply the task model's data preprocessor to every branch separately.

    In training, ``data['inputs']`` and ``data['data_samples']`` are dicts of
    branch -> list, with None for samples that do not have the branch (see
    :class:`~ssl_dense.datasets.MultiView`). Outside training (validation,
    test, demos) data are ordinary single-view batches and go straight to the
    task preprocessor.

    Args:
        preprocessor (nn.Module): The task model's data preprocessor.
    """

    def __init__(self, preprocessor: nn.Module) -> None:
        super().__init__()
        self.preprocessor = preprocessor

    def forward(self, data: dict, training: bool = False) -> dict:
        if not isinstance(data.get('inputs'), dict):
            return self.preprocessor(data, training)
        inputs: dict = {}
        samples: dict = {}
        for branch, items in data['inputs'].items():
            keep = [i for i, item in enumerate(items) if item is not None]
            if not keep:
                continue
            batch = self.preprocessor(
                dict(inputs=[items[i] for i in keep],
                     data_samples=[data['data_samples'][branch][i] for i in keep]), training)
            inputs[branch] = batch['inputs']
            samples[branch] = batch['data_samples']
        return dict(inputs=inputs, data_samples=samples)


@MODELS.register_module()
class TeacherStudent(BaseModel):
    """Mean-teacher semi-supervised training around any task model.

    Training loss::

        L = L_sup(student, labeled)
            + unsup_weight * L_unsup(student, strong view,
                                     pseudo labels of the teacher on the weak view)

    ``unsup_weight`` is an attribute that
    :class:`~ssl_dense.engine.UnsupWeightHook` may change during training
    (burn-in and ramp-up); while it is 0 the unlabeled branches are skipped.

    Args:
        model (dict): Config of the task model (the student), e.g. an mmdet
            detector with ``_scope_='mmdet'``.
        adapter (dict): Config of the task adapter (``TASK_UTILS``), e.g.
            ``dict(type='DetectionAdapter')``.
        threshold (dict): Config of the pseudo-label threshold policy
            (``THRESHOLDS``); ``num_classes`` defaults to the model's.
            Defaults to ``dict(type='FixedThreshold', thr=0.7)``.
        branches (dict): Names of the ``labeled``, ``weak`` and ``strong``
            branches; must match the ``MultiView`` branches of the data.
            Defaults to :data:`DEFAULT_BRANCHES`.
        unsup_weight (float): Weight of the unlabeled loss. Defaults to 1.0.
        predict_on (str): ``'teacher'`` or ``'student'``, the model used for
            validation, test and demos. Defaults to ``'teacher'``.
        hidden_gt (bool): The unlabeled samples carry ground truth kept aside
            for analysis (it never reaches a loss): log the precision and
            recall of the pseudo labels against it every logging interval
            (``pl_precision``, ``pl_recall``, and per class). Defaults to False.
        quality_window (int): Precision and recall are computed from the
            counts of this many recent batches. Defaults to 50.
        strong_batch_augments (list[dict], optional): Batch augmentations of
            the strong view that move the pseudo labels along (e.g.
            ``dict(type='SegCutMix')``), called as ``inputs, pseudo =
            aug(inputs, pseudo)`` after the pseudo labels reach the strong
            view. Defaults to None.
        max_logged_classes (int): Pseudo-label counts, scores and thresholds
            are logged per class when there are at most this many classes
            (e.g. 3 BCCD cells); beyond (e.g. 32 bee keypoints) the log keeps
            their totals and means (``pl_num``, ``pl_score``, ``thr_mean``)
            so a log line stays readable. Defaults to 20.
        unsup_bn_stats (bool): Whether the student's batch-norm running
            statistics also follow its forwards on unlabeled views (the strong
            view, and the weak view's loss if the adapter has one). With False
            only the labeled forward updates them, so the photometric and
            mixing perturbations of the unlabeled views stay out of the
            statistics that the teacher (which copies the student's buffers)
            evaluates clean images with; batch statistics still normalise the
            unlabeled batches in training. ``tools/analysis/recalibrate_bn.py``
            measures what a checkpoint's running statistics cost it.
            Defaults to True.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 model: ConfigType,
                 adapter: ConfigType,
                 threshold: OptConfigType = None,
                 branches: Optional[Dict[str, str]] = None,
                 unsup_weight: float = 1.0,
                 predict_on: str = 'teacher',
                 hidden_gt: bool = False,
                 quality_window: int = 50,
                 strong_batch_augments: Optional[List[ConfigType]] = None,
                 max_logged_classes: int = 20,
                 unsup_bn_stats: bool = True,
                 init_cfg: OptMultiConfig = None) -> None:
        student = MODELS.build(model)
        super().__init__(data_preprocessor=MultiViewPreprocessor(student.data_preprocessor),
                         init_cfg=init_cfg)
        self.branches = dict(DEFAULT_BRANCHES, **(branches or {}))
        unknown = set(self.branches) - set(DEFAULT_BRANCHES)
        if unknown:
            raise KeyError(f'unknown branch roles {sorted(unknown)}; the roles are '
                           f'{sorted(DEFAULT_BRANCHES)}')
        if predict_on not in ('teacher', 'student'):
            raise ValueError(f"predict_on must be 'teacher' or 'student', got {predict_on!r}")
        if unsup_weight < 0:
            raise ValueError(f'unsup_weight must be >= 0, got {unsup_weight!r}')
        self.student = student
        self.teacher = copy.deepcopy(student)
        self.teacher.requires_grad_(False)
        # Built in the ssl_dense scope even when the caller's default scope is
        # another (e.g. mmdet's inferencers build models in the mmdet scope).
        self.adapter = TASK_UTILS.build(dict(adapter, _scope_='ssl_dense'))
        threshold = dict(threshold or dict(type='FixedThreshold', thr=0.7), _scope_='ssl_dense')
        if 'num_classes' not in threshold:  # asked only when the config leaves it out
            threshold['num_classes'] = self.adapter.num_classes(student)
        self.threshold = THRESHOLDS.build(threshold)
        score_type = getattr(self.threshold, 'score_type', 'confidence')
        if score_type not in self.adapter.score_types:
            raise ValueError(f'{type(self.threshold).__name__} needs {score_type!r} scores, which '
                             f'{type(self.adapter).__name__} does not give (it gives '
                             f'{list(self.adapter.score_types)})')
        if (self.threshold.needs_gt_classes
                and type(self.adapter).gt_classes is BaseTaskAdapter.gt_classes):
            raise ValueError(f'{type(self.threshold).__name__} learns from ground-truth classes, '
                             f'which {type(self.adapter).__name__} does not give (gt_classes)')
        self.unsup_weight = float(unsup_weight)
        self.predict_on = predict_on
        self.hidden_gt = hidden_gt
        self._quality_window: Deque[Dict[str, Tensor]] = deque(maxlen=quality_window)
        self.strong_batch_augments = [MODELS.build(dict(a, _scope_='ssl_dense'))
                                      for a in strong_batch_augments or []]
        self.max_logged_classes = max_logged_classes
        self.unsup_bn_stats = unsup_bn_stats
        # Reviewers (historical teachers, see ReviewerHook) are kept outside
        # the module tree: their number changes, and the hook saves them.
        self._reviewers: List[nn.Module] = []

    @property
    def reviewers(self) -> List[nn.Module]:
        """Frozen historical teachers set by :meth:`set_reviewer_states`."""
        return self._reviewers

    @torch.no_grad()
    def set_reviewer_states(self, states: List[Dict[str, Tensor]]) -> None:
        """Make one frozen reviewer per teacher state (oldest first)."""
        device = next(self.teacher.parameters()).device
        while len(self._reviewers) < len(states):
            self._reviewers.append(copy.deepcopy(self.teacher).eval().requires_grad_(False))
        del self._reviewers[len(states):]
        for reviewer, state in zip(self._reviewers, states):
            reviewer.load_state_dict(state)
            reviewer.to(device)

    def train(self, mode: bool = True) -> 'TeacherStudent':
        """Set train mode; the teacher always stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        model = getattr(self, self.predict_on)
        return model(inputs, data_samples, mode=mode)

    def loss(self, inputs: Dict[str, Tensor], data_samples: Dict[str, list]) -> Dict[str, Tensor]:
        """Supervised loss plus weighted unsupervised loss; see class docstring."""
        self._check_branches(inputs)
        labeled, weak, strong = (self.branches[k] for k in ('labeled', 'weak', 'strong'))
        losses: Dict[str, Tensor] = {}
        if labeled in inputs:
            losses.update(_prefixed('sup_', self.adapter.supervised_loss(
                self.student, inputs[labeled], data_samples[labeled])))
            if self.threshold.needs_gt_classes:
                self.threshold.update_gt(self.adapter.gt_classes(self.student,
                                                                 data_samples[labeled]))
            if self.threshold.needs_labeled:
                with torch.no_grad():
                    self.threshold.update_labeled(*self.adapter.labeled_scores(
                        self.teacher, inputs[labeled], data_samples[labeled]))
        if weak in inputs and strong in inputs and self.unsup_weight > 0:
            with torch.no_grad():
                pseudo = self.adapter.pseudo_labels(
                    self.teacher, inputs[weak], data_samples[weak], self.threshold,
                    reviewers=self._reviewers)
                if self.hidden_gt:
                    self._log_quality(pseudo, data_samples[weak])
            pseudo_strong = self.adapter.transfer(pseudo, data_samples[weak],
                                                  data_samples[strong])
            strong_inputs = inputs[strong]
            for augment in self.strong_batch_augments:
                strong_inputs, pseudo_strong = augment(strong_inputs, pseudo_strong)
            with self._frozen_bn_stats(not self.unsup_bn_stats):
                # Losses on the weak view itself (e.g. UniMatch's feature
                # perturbation); most adapters have none.
                weak_losses = self.adapter.weak_view_loss(self.student, inputs[weak],
                                                          data_samples[weak], pseudo)
                unsup = self.adapter.unsupervised_loss(
                    self.student, strong_inputs, data_samples[strong], pseudo_strong)
            unsup.update(weak_losses)
            losses.update(_prefixed('unsup_', _weighted(unsup, self.unsup_weight)))
            self._log_pseudo_labels(pseudo_strong)
        if not losses:
            raise ValueError(f'the batch has none of the branches {list(self.branches.values())}')
        return losses

    @contextmanager
    def _frozen_bn_stats(self, frozen: bool) -> Iterator[None]:
        """Inside the block, the student's batch norms in training mode keep
        their running statistics (momentum 0); batch statistics still apply."""
        norms = [m for m in self.student.modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
                 and m.track_running_stats] if frozen else []
        saved = [m.momentum for m in norms]
        try:
            for m in norms:
                m.momentum = 0.0
            yield
        finally:
            for m, momentum in zip(norms, saved):
                m.momentum = momentum

    def _check_branches(self, inputs: dict) -> None:
        if not isinstance(inputs, dict):
            raise TypeError('TeacherStudent.loss needs multi-view inputs (a dict of branch -> '
                            'tensor); wrap the training pipelines in ssl_dense.MultiView')
        expected = set(self.branches.values())
        unknown = set(inputs) - expected
        if unknown:
            raise KeyError(f'batch has branches {sorted(unknown)} that the model does not know; '
                           f'model branches: {self.branches}. Use the same names in MultiView '
                           'and TeacherStudent.branches')
        weak, strong = self.branches['weak'], self.branches['strong']
        if (weak in inputs) != (strong in inputs):
            raise KeyError(f'unlabeled samples need both {weak!r} and {strong!r} views, got '
                           f'{sorted(inputs)}')

    def _log_pseudo_labels(self, pseudo: list) -> None:
        hub = MessageHub.get_current_instance()
        stats = self.adapter.pseudo_label_stats(pseudo, self.threshold.num_classes)
        thresholds = self.threshold.thresholds()
        if self.threshold.num_classes > self.max_logged_classes:
            count = stats['count'].sum()
            hub.update_scalar('train/pl_num', count.item())
            if count > 0:
                score = (stats['mean_score'] * stats['count']).sum() / count
                hub.update_scalar('train/pl_score', score.item())
            hub.update_scalar('train/thr_mean', thresholds.float().mean().item())
            return
        names = self._class_names()
        for c in range(self.threshold.num_classes):
            name = names[c] if names else str(c)
            hub.update_scalar(f'train/pl_num_{name}', stats['count'][c].item())
            if stats['count'][c] > 0:
                hub.update_scalar(f'train/pl_score_{name}', stats['mean_score'][c].item())
            hub.update_scalar(f'train/thr_{name}', thresholds[c].item())

    def _log_quality(self, pseudo: list, weak_samples: list) -> None:
        quality = self.adapter.pseudo_label_quality(pseudo, weak_samples,
                                                    self.threshold.num_classes)
        if quality is None:
            raise NotImplementedError(f'{type(self.adapter).__name__} cannot measure pseudo '
                                      'labels against hidden ground truth; set hidden_gt=False')
        if quality['num_gt'].sum() == 0 and not getattr(self, '_warned_no_hidden_gt', False):
            self._warned_no_hidden_gt = True
            print_log('hidden_gt=True, but the unlabeled images of this batch have no ground '
                      'truth boxes: is the unlabeled ann_file the one with annotations '
                      '(tools/split_dataset.py --keep-unlabeled-annotations)? Recall is not '
                      'logged while no ground truth is seen.', logger='current',
                      level=logging.WARNING)
        hub = MessageHub.get_current_instance()
        names = self._class_names()
        # Ratios of the counts summed over the last `quality_window` batches:
        # one batch has too few boxes of a rare class for a stable ratio.
        self._quality_window.append(quality)
        totals = {k: sum(q[k] for q in self._quality_window) for k in quality}
        per_class = [] if self.threshold.num_classes > self.max_logged_classes else [
            (f'_{names[c] if names else c}', c) for c in range(self.threshold.num_classes)]
        for suffix, idx in [('', slice(None))] + per_class:
            tp, num_pseudo = totals['tp'][idx].sum(), totals['num_pseudo'][idx].sum()
            found, num_gt = totals['num_gt_found'][idx].sum(), totals['num_gt'][idx].sum()
            if num_pseudo > 0:
                hub.update_scalar(f'train/pl_precision{suffix}', (tp / num_pseudo).item())
            if num_gt > 0:
                hub.update_scalar(f'train/pl_recall{suffix}', (found / num_gt).item())

    def _class_names(self) -> Optional[List[str]]:
        meta = getattr(self.student, 'dataset_meta', None) or getattr(self, 'dataset_meta', None)
        classes = (meta or {}).get('classes')
        return list(classes) if classes and len(classes) == self.threshold.num_classes else None

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        state = getattr(self.adapter, 'state_dict', dict)()
        for key, value in state.items():
            destination[f'{prefix}adapter.{key}'] = torch.tensor(value)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # The adapter's running statistics (absent from older checkpoints).
        adapter_keys = [k for k in state_dict if k.startswith(f'{prefix}adapter.')]
        state = {k[len(f'{prefix}adapter.'):]: state_dict.pop(k).item() for k in adapter_keys}
        if state:
            self.adapter.load_state_dict(state)
        # A plain task-model checkpoint (keys without student./teacher.) loads
        # into both the student and the teacher.
        ours = (f'{prefix}student.', f'{prefix}teacher.')
        keys = [k for k in state_dict if k.startswith(prefix)]
        if keys and not any(k.startswith(ours) for k in keys):
            for key in keys:
                rest = key[len(prefix):]
                if rest.startswith(('threshold.', 'data_preprocessor.')):
                    continue
                value = state_dict.pop(key)
                state_dict[f'{prefix}student.{rest}'] = value
                state_dict[f'{prefix}teacher.{rest}'] = value
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def _prefixed(prefix: str, losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
    return {prefix + k: v for k, v in losses.items()}


def _weighted(losses: Dict[str, Union[Tensor, list]], weight: float) -> Dict[str, Tensor]:
    """Scale every loss term (names containing 'loss'); keep metrics as they are."""
    out = {}
    for key, value in losses.items():
        if 'loss' in key:
            value = [v * weight for v in value] if isinstance(value, list) else value * weight
        out[key] = value
    return out
