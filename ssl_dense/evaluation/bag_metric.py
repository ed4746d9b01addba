"""Bag classification metrics: accuracy, AUC, balanced accuracy, F1."""
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from ssl_dense.registry import METRICS

__all__ = ['BagMetric', 'bag_metrics', 'binary_auc']


def binary_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve from the ranks of the scores (Mann-Whitney U,
    ties counted half). NaN when one of the classes is absent."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    order = scores.argsort(kind='mergesort')
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties.
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def bag_metrics(probs: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
    """Accuracy, AUC, balanced accuracy, F1 and NLL of bag predictions.

    Args:
        probs (np.ndarray): Class probabilities, ``(bags, classes)``.
        labels (np.ndarray): True classes, ``(bags, )``.

    Returns:
        dict: ``accuracy``, ``auc`` (two classes: of class 1; more: the mean
        one-vs-rest AUC over classes present), ``balanced_accuracy`` (mean
        per-class recall over classes present) and ``f1`` (two classes: of
        class 1; more: macro over the classes that occur as a label or a
        prediction), all in [0, 1], and ``nll``: the mean negative
        log-likelihood of the true classes (probabilities clipped at 1e-7),
        the validation loss that model selection can minimise.
    """
    probs, labels = np.asarray(probs), np.asarray(labels).astype(int)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f'probs must be (bags, classes) and match {len(labels)} labels, got '
                         f'{probs.shape}')
    num_classes = probs.shape[1]
    pred = probs.argmax(1)
    present = [c for c in range(num_classes) if (labels == c).any()]
    recalls = [float((pred[labels == c] == c).mean()) for c in present]

    def f1_of(c):
        tp = float(((pred == c) & (labels == c)).sum())
        denom = float((pred == c).sum() + (labels == c).sum())
        return 2 * tp / denom if denom else 0.0

    if num_classes == 2:
        auc, f1 = binary_auc(probs[:, 1], labels == 1), f1_of(1)
    else:
        aucs = [binary_auc(probs[:, c], labels == c) for c in present]
        auc = float(np.nanmean(aucs)) if aucs else float('nan')
        # Macro F1 over the classes that occur (as a label or a prediction):
        # a class absent from both would count as an F1 of 0.
        f1 = float(np.mean([f1_of(c) for c in sorted(set(labels) | set(pred))]))
    true_prob = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    return dict(accuracy=float((pred == labels).mean()), auc=auc,
                balanced_accuracy=float(np.mean(recalls)), f1=f1,
                nll=float(-np.log(true_prob).mean()))


@METRICS.register_module()
class BagMetric(BaseMetric):
    """Bag-level accuracy, AUC, balanced accuracy, F1 (in [0, 1]) and NLL.

    Reads ``pred_score`` and ``gt_label`` of the data samples that
    :class:`~ssl_dense.models.mil.BagClassifier` predicts.

    Args:
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to None.
    """

    default_prefix = 'bag'

    def __init__(self, collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            get = sample.get if isinstance(sample, dict) else sample.__getattribute__
            self.results.append((torch.as_tensor(get('pred_score')).float().cpu().numpy(),
                                 int(torch.as_tensor(get('gt_label')))))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        probs = np.stack([r[0] for r in results])
        labels = np.asarray([r[1] for r in results])
        return bag_metrics(probs, labels)
