"""Interface between the task-agnostic teacher-student model and one task."""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import print_log
from torch import Tensor

__all__ = ['BaseTaskAdapter', 'homography_of', 'zero_like_graph', 'finite_or_zero', 'scale_loss']


class BaseTaskAdapter:
    """How :class:`~ssl_dense.models.semi.TeacherStudent` talks to a task model.

    The teacher-student model only moves data between these steps::

        supervised_loss(student, labeled view)
        pseudo = pseudo_labels(teacher, weak view, threshold)   # no gradient
        pseudo = transfer(pseudo, weak samples, strong samples)
        unsupervised_loss(student, strong view, pseudo)

    A detection, segmentation or pose adapter implements them for the task's
    models (mmdet detectors, mmseg segmentors, mmpose estimators).
    """

    #: Kinds of scores the adapter can give threshold policies (see
    #: ``BaseThreshold.score_type``).
    score_types: Tuple[str, ...] = ('confidence', )

    def num_classes(self, model: nn.Module) -> int:
        """Number of classes of ``model`` (sizes the threshold policy)."""
        raise NotImplementedError

    #: The dataset ``metainfo`` key whose length is the class count that
    #: :meth:`num_classes` must match (None: nothing to check).
    meta_classes_key: Optional[str] = 'classes'

    def state_dict(self) -> Dict[str, float]:
        """Running statistics to keep in checkpoints (saved by
        :class:`~ssl_dense.models.semi.TeacherStudent` as ``adapter.<name>``
        so that ``--resume`` continues them). Defaults to none."""
        return {}

    def load_state_dict(self, state: Dict[str, float]) -> None:
        """Restore what :meth:`state_dict` gave."""

    def supervised_loss(self, student: nn.Module, inputs: Tensor,
                        data_samples: List[Any]) -> Dict[str, Tensor]:
        """Loss of the student on labeled data."""
        raise NotImplementedError

    def pseudo_labels(self, teacher: nn.Module, inputs: Tensor, data_samples: List[Any],
                      threshold: nn.Module, reviewers: Sequence[nn.Module] = ()) -> List[Any]:
        """Teacher predictions on the weak view, filtered by ``threshold``.

        ``reviewers`` are historical teachers (see ``ReviewerHook``) that an
        adapter may use as extra predictors. Implementations also feed the
        scores to ``threshold.update`` so adaptive policies can learn.
        """
        raise NotImplementedError

    def labeled_scores(self, teacher: nn.Module, inputs: Tensor,
                       data_samples: List[Any]) -> Tuple[Tensor, Tensor]:
        """Scores and labels of teacher predictions on labeled data that
        match ground truth, for policies with ``needs_labeled``."""
        raise NotImplementedError

    def gt_classes(self, model: nn.Module, data_samples: List[Any]) -> Tensor:
        """Class indices of the labeled ground truth of a batch, 1-D (ignored
        labels left out), for policies with ``needs_gt_classes``."""
        raise NotImplementedError(f'{type(self).__name__} does not give ground-truth classes, '
                                  'which this threshold policy (needs_gt_classes) learns from')

    def transfer(self, pseudo: List[Any], source_samples: List[Any],
                 target_samples: List[Any]) -> List[Any]:
        """Move pseudo labels from the source (weak) view to the target
        (strong) view using the views' recorded ``homography_matrix``."""
        raise NotImplementedError

    def unsupervised_loss(self, student: nn.Module, inputs: Tensor, data_samples: List[Any],
                          pseudo: List[Any]) -> Dict[str, Tensor]:
        """Loss of the student on the strong view against ``pseudo``.

        Must be finite; with no pseudo label at all it must be zero (and keep
        the graph connected to the student for DDP).
        """
        raise NotImplementedError

    def weak_view_loss(self, student: nn.Module, inputs: Tensor, data_samples: List[Any],
                       pseudo: List[Any]) -> Dict[str, Tensor]:
        """Extra unsupervised losses on the weak view itself, against its own
        pseudo labels (e.g. UniMatch's feature-perturbation branch). Default:
        none."""
        return {}

    def pseudo_label_stats(self, pseudo: List[Any], num_classes: int) -> Dict[str, Tensor]:
        """Per-class ``count`` and ``mean_score`` of the kept pseudo labels."""
        raise NotImplementedError

    def pseudo_label_quality(self, pseudo: List[Any], data_samples: List[Any],
                             num_classes: int) -> Optional[Dict[str, Tensor]]:
        """Per-class agreement of pseudo labels with hidden ground truth.

        ``data_samples`` are the weak-view samples, whose ground truth was
        loaded for analysis only (it never reaches a loss). Returns per-class
        counts ``tp`` (pseudo labels that match ground truth), ``num_pseudo``
        and ``num_gt_found`` / ``num_gt`` (ground truth covered by a pseudo
        label), or None when the task cannot measure it.
        """
        return None


# Helpers every task adapter needs.


def homography_of(sample, like: Tensor) -> Tensor:
    """The view's recorded ``homography_matrix`` (original image -> view)."""
    if 'homography_matrix' not in sample.metainfo:
        raise KeyError(f'{sample.metainfo.get("img_path", "a sample")} has no '
                       "'homography_matrix'; add it to meta_keys of the view's pack transform "
                       '(PackDetInputs, PackSegInputs, ...)')
    if sample.metainfo.get('unrecorded_geometry'):  # found by MultiView
        raise ValueError(f'{sample.metainfo.get("img_path", "a sample")}: '
                         f'{sample.metainfo["unrecorded_geometry"]}')
    matrix = np.asarray(sample.metainfo['homography_matrix'], dtype=np.float64)
    scale = sample.metainfo.get('scale_factor')
    if scale is not None and _resize_not_recorded(matrix, np.asarray(scale, dtype=np.float64)):
        raise ValueError(
            f'{sample.metainfo.get("img_path", "a sample")}: the view was resized '
            f'(scale_factor {tuple(np.round(scale, 4).tolist())}) but its homography_matrix '
            'records no scale, so pseudo labels would land in the wrong place. The resize '
            "transform does not record it: mmcv's RandomResize builds its inner Resize in the "
            "current scope, and mmseg's Resize records no homography. Use "
            "dict(type='mmdet.RandomResize', ..., resize_type='mmdet.Resize') or mmdet.Resize.")
    return torch.as_tensor(matrix, dtype=like.dtype, device=like.device)


def _resize_not_recorded(matrix: np.ndarray, scale: np.ndarray) -> bool:
    """True when ``matrix`` is a pure shift/flip although the view was resized
    by ``scale`` (w, h): the signature of a resize that kept no homography."""
    if scale.size < 2 or np.allclose(scale[:2], 1.0, atol=1e-3):
        return False
    axis_aligned = abs(matrix[0, 1]) < 1e-6 and abs(matrix[1, 0]) < 1e-6
    unit_diagonal = np.allclose(np.abs(np.diag(matrix)[:2]), 1.0, atol=1e-6)
    return axis_aligned and unit_diagonal


def zero_like_graph(model: nn.Module) -> Tensor:
    """0, connected to every trainable parameter (keeps DDP's reducer happy)."""
    return sum(p.sum() * 0 for p in model.parameters() if p.requires_grad)


_WARNED_NON_FINITE: set = set()


def finite_or_zero(value, model: nn.Module, name: str = 'a loss'):
    """A loss value, or a graph-connected 0 where it is NaN or infinite (a
    warning names the loss the first time that happens to it)."""
    if isinstance(value, list):
        return [finite_or_zero(v, model, name) for v in value]
    if isinstance(value, Tensor) and value.is_floating_point() and not torch.isfinite(
            value).all():
        if name not in _WARNED_NON_FINITE:
            _WARNED_NON_FINITE.add(name)
            print_log(f'{name} on pseudo labels is {value.detach().flatten()[:4].tolist()}: '
                      'replaced by 0 (warned once; a diverging student shows here first)',
                      logger='current', level=logging.WARNING)
        return zero_like_graph(model)
    return value


def scale_loss(value, weight: float):
    """``value * weight`` for a loss tensor or list of them; other values unchanged."""
    if weight == 1.0:
        return value
    if isinstance(value, list):
        return [v * weight for v in value]
    return value * weight if isinstance(value, Tensor) and value.is_floating_point() else value
