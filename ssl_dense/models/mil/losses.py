"""Losses for multiple-instance learning."""
import torch
import torch.nn as nn
from torch import Tensor

from ssl_dense.registry import MODELS

__all__ = ['AttentionEntropyLoss', 'soft_target_cross_entropy']


@MODELS.register_module()
class AttentionEntropyLoss(nn.Module):
    """Attention entropy maximisation (AEM, Zhang et al. 2024).

    ``loss = weight * sum_i softmax(A)_i * log softmax(A)_i``, the negative
    entropy of the attention distribution over the instances of one bag (from
    the pre-softmax attention ``A``). Minimising it spreads attention over
    more instances instead of a few that happen to separate the training bags.

    Args:
        loss_weight (float): ``lambda``. Defaults to 0.1 (AEM's example).
    """

    def __init__(self, loss_weight: float = 0.1) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, attention: Tensor) -> Tensor:
        log_p = torch.log_softmax(attention.reshape(-1), dim=0)
        return self.loss_weight * (log_p.exp() * log_p).sum()


def soft_target_cross_entropy(student: Tensor, teacher: Tensor,
                              temperature: float = 0.1) -> Tensor:
    """``-sum softmax(teacher / T) * log_softmax(student)`` (MHIM's consistency
    loss between bag embeddings; the teacher side carries no gradient)."""
    target = torch.softmax(teacher.detach() / temperature, dim=-1)
    return -(target * torch.log_softmax(student, dim=-1)).sum(-1).mean()
