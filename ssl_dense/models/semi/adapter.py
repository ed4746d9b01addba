"""Interface between the task-agnostic teacher-student model and one task."""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from torch import Tensor

__all__ = ['BaseTaskAdapter']


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

    def num_classes(self, model: nn.Module) -> int:
        """Number of classes of ``model`` (sizes the threshold policy)."""
        raise NotImplementedError

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
