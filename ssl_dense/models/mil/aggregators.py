"""Bag aggregators for multiple-instance learning: ABMIL, DSMIL, TransMIL.

Every aggregator takes the instance features of one bag, ``x`` of shape
``(n, in_channels)``, and returns a dict with

* ``logits``: bag logits, ``(num_classes, )``;
* ``embedding``: the bag embedding, ``(embed_dim, )`` (what MHIM's
  consistency loss compares between teacher and student);
* ``attention``: pre-softmax instance attention, ``(n, )`` (what MHIM
  ranks instances by and AEM regularises).

Memory grows linearly in ``n`` for all three: ABMIL and DSMIL score each
instance on its own, and TransMIL uses Nystrom attention with a fixed number
of landmarks instead of an ``n x n`` attention matrix.
"""
import math
from typing import Dict, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ssl_dense.registry import MODELS

__all__ = ['ABMIL', 'DSMIL', 'TransMIL', 'NystromAttention']


def _check_bag(x: Tensor, in_channels: int, name: str) -> None:
    if x.dim() != 2:
        raise ValueError(f'{name} takes one bag of shape (instances, features), got '
                         f'{tuple(x.shape)}')
    if x.shape[1] != in_channels:
        raise ValueError(f'{name} was configured with in_channels={in_channels}, but the bag '
                         f'has {x.shape[1]} features per instance')
    if x.shape[0] == 0:
        raise ValueError(f'{name} got a bag with 0 instances')


def _projection(in_channels: int, dims: Union[int, Sequence[int]],
                dropout: float) -> Tuple[nn.Sequential, int]:
    """Instance embedding: ``Linear + ReLU`` per entry of ``dims``, then
    dropout; returns the module and its output size."""
    dims = [dims] if isinstance(dims, int) else list(dims)
    layers, width = [], in_channels
    for dim in dims:
        layers += [nn.Linear(width, dim), nn.ReLU(inplace=True)]
        width = dim
    return nn.Sequential(*layers, nn.Dropout(dropout)), width


@MODELS.register_module()
class ABMIL(nn.Module):
    """Attention-based deep MIL (Ilse et al., ICML 2018).

    Instances are embedded by a linear layer + ReLU; a small network scores
    each one (``tanh`` attention, or gated ``tanh * sigmoid`` attention), the
    softmax of the scores weights the instance embeddings into the bag
    embedding, and a linear layer classifies it.

    Args:
        in_channels (int): Features per instance.
        num_classes (int): Bag classes. Defaults to 2.
        embed_dim (int or Sequence[int]): Sizes of the instance embedding
            layers (``Linear + ReLU`` each). Defaults to ``(256, 128)``, the
            paper's network for MUSK and ELEPHANT.
        attn_dim (int): Hidden size of the attention network. Defaults to
            128.
        gated (bool): Gated attention. Defaults to False.
        dropout (float): Dropout after the instance embedding. Defaults to 0.
    """

    def __init__(self, in_channels: int, num_classes: int = 2,
                 embed_dim: Union[int, Sequence[int]] = (256, 128), attn_dim: int = 128,
                 gated: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.gated = gated
        self.embed, embed_dim = _projection(in_channels, embed_dim, dropout)
        self.attn_v = nn.Linear(embed_dim, attn_dim)
        self.attn_u = nn.Linear(embed_dim, attn_dim) if gated else None
        self.attn_w = nn.Linear(attn_dim, 1)
        self.classifier = nn.Linear(embed_dim, num_classes)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        _check_bag(x, self.in_channels, type(self).__name__)
        h = self.embed(x)
        a = torch.tanh(self.attn_v(h))
        if self.attn_u is not None:
            a = a * torch.sigmoid(self.attn_u(h))
        attention = self.attn_w(a).squeeze(-1)
        embedding = torch.softmax(attention, dim=0) @ h
        return dict(logits=self.classifier(embedding), embedding=embedding, attention=attention)


@MODELS.register_module()
class DSMIL(nn.Module):
    """Dual-stream MIL (Li et al., CVPR 2021).

    Stream one classifies every instance and picks one critical instance:
    the highest score of the positive class (two classes), or of the class
    with the highest instance score (more than two). Stream two attends
    from every instance to the critical one:
    ``A_i = softmax_i(<q_i, q_crit> / sqrt(d))``; the attention-weighted sum
    of instance values is the bag embedding, classified by a linear layer.
    The bag logits are the mean of the two streams (the max instance logits
    and the bag-embedding logits), as in DSMIL's evaluation.

    Args:
        in_channels (int): Features per instance.
        num_classes (int): Bag classes. Defaults to 2.
        embed_dim (int or Sequence[int]): Sizes of the instance embedding
            layers. Defaults to 128.
        query_dim (int): Query size. Defaults to 64.
        dropout (float): Dropout after the instance embedding. Defaults to 0.
    """

    def __init__(self, in_channels: int, num_classes: int = 2,
                 embed_dim: Union[int, Sequence[int]] = 128, query_dim: int = 64,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.embed, embed_dim = _projection(in_channels, embed_dim, dropout)
        self.instance_classifier = nn.Linear(embed_dim, num_classes)
        self.query = nn.Sequential(nn.Linear(embed_dim, query_dim), nn.Tanh())
        self.value = nn.Linear(embed_dim, embed_dim)
        self.classifier = nn.Linear(embed_dim, num_classes)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        _check_bag(x, self.in_channels, type(self).__name__)
        h = self.embed(x)
        inst_logits = self.instance_classifier(h)                      # (n, C)
        # Critical instance of the positive class (two classes) or of the
        # class with the highest instance score.
        col = 1 if inst_logits.shape[1] == 2 else int(inst_logits.max(0).values.argmax())
        critical = inst_logits[:, col].argmax()
        q = self.query(h)                                              # (n, Dq)
        attention = (q @ q[critical]) / math.sqrt(q.shape[1])          # (n, )
        embedding = torch.softmax(attention, dim=0) @ self.value(h)    # (D, )
        bag_logits = self.classifier(embedding)
        logits = 0.5 * (bag_logits + inst_logits.max(dim=0).values)
        return dict(logits=logits, embedding=embedding, attention=attention)


@MODELS.register_module()
class NystromAttention(nn.Module):
    """Multi-head self-attention approximated with Nystrom landmarks
    (Xiong et al., AAAI 2021), as TransMIL uses it.

    Queries and keys are averaged over ``num_landmarks`` contiguous segments
    to give landmarks ``Q~`` and ``K~``; then
    ``softmax(Q K~^T) pinv(softmax(Q~ K~^T)) softmax(Q~ K^T) V``, which needs
    ``O(n * num_landmarks)`` memory. Sequences no longer than
    ``num_landmarks`` use exact attention.

    Args:
        dim (int): Token size.
        num_heads (int): Attention heads. Defaults to 8.
        num_landmarks (int): Landmarks. Defaults to 256.
        dropout (float): Dropout on the output. Defaults to 0.
    """

    def __init__(self, dim: int, num_heads: int = 8, num_landmarks: int = 256,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.num_landmarks = num_landmarks
        self.scale = (dim // num_heads)**-0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        n, dim = x.shape
        q, k, v = self.qkv(x).view(n, 3, self.num_heads, -1).permute(1, 2, 0, 3)  # (H, n, d)
        q = q * self.scale
        m = self.num_landmarks
        if n <= m:
            out = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
        else:
            # Pad at the front so that n is a multiple of m; landmarks are
            # segment means (padding rows are zeros and only dilute the first
            # segment, they are never attended to as keys below).
            pad = (m - n % m) % m
            qp = F.pad(q, (0, 0, pad, 0))
            kp = F.pad(k, (0, 0, pad, 0))
            q_l = qp.reshape(self.num_heads, m, -1, qp.shape[-1]).mean(dim=2)
            k_l = kp.reshape(self.num_heads, m, -1, kp.shape[-1]).mean(dim=2)
            kernel_1 = torch.softmax(q @ k_l.transpose(-1, -2), dim=-1)      # (H, n, m)
            kernel_2 = torch.softmax(q_l @ k_l.transpose(-1, -2), dim=-1)    # (H, m, m)
            kernel_3 = torch.softmax(q_l @ k.transpose(-1, -2), dim=-1)      # (H, m, n)
            out = kernel_1 @ (torch.linalg.pinv(kernel_2) @ (kernel_3 @ v))
        return self.out(out.transpose(0, 1).reshape(n, dim))


class _PPEG(nn.Module):
    """TransMIL's pyramid position encoding: depth-wise 7/5/3 convolutions over
    the tokens laid out on a square grid (wrapped around to fill it)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim) for k in (7, 5, 3))

    def forward(self, tokens: Tensor) -> Tensor:
        cls, x = tokens[:1], tokens[1:]
        n, dim = x.shape
        side = math.ceil(math.sqrt(n))
        x = x.repeat(math.ceil(side * side / n), 1)[:side * side]
        grid = x.t().reshape(1, dim, side, side)
        grid = grid + sum(conv(grid) for conv in self.convs)
        x = grid.reshape(dim, -1).t()[:n]
        return torch.cat([cls, x])


@MODELS.register_module()
class TransMIL(nn.Module):
    """TransMIL (Shao et al., NeurIPS 2021): a class token and two Nystrom
    self-attention layers around a pyramid position encoding.

    The instance attention is the class token's attention logits over the
    instances in the last layer (mean over heads), computed exactly against
    the class token only (``O(n)``).

    Args:
        in_channels (int): Features per instance.
        num_classes (int): Bag classes. Defaults to 2.
        embed_dim (int or Sequence[int]): Sizes of the instance embedding
            layers; the last one is the token size. Defaults to 128.
        num_heads (int): Attention heads. Defaults to 4.
        num_landmarks (int): Nystrom landmarks. Defaults to 64.
        dropout (float): Dropout after the instance embedding. Defaults to 0.
    """

    def __init__(self, in_channels: int, num_classes: int = 2,
                 embed_dim: Union[int, Sequence[int]] = 128, num_heads: int = 4,
                 num_landmarks: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_heads = num_heads
        self.embed, embed_dim = _projection(in_channels, embed_dim, dropout)
        self.cls_token = nn.Parameter(torch.zeros(1, embed_dim))
        nn.init.normal_(self.cls_token, std=0.02)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.attn1 = NystromAttention(embed_dim, num_heads, num_landmarks)
        self.ppeg = _PPEG(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.attn2 = NystromAttention(embed_dim, num_heads, num_landmarks)
        self.norm = nn.LayerNorm(embed_dim)
        self.classifier = nn.Linear(embed_dim, num_classes)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        _check_bag(x, self.in_channels, type(self).__name__)
        tokens = torch.cat([self.cls_token, self.embed(x)])
        tokens = tokens + self.attn1(self.norm1(tokens))
        tokens = self.ppeg(tokens)
        normed = self.norm2(tokens)
        tokens = tokens + self.attn2(normed)
        embedding = self.norm(tokens[0])
        # Class-token attention logits over the instances in the last layer.
        q, k, _ = self.attn2.qkv(normed).view(len(normed), 3, self.num_heads, -1).unbind(1)
        attention = (k[1:] * q[0]).sum(-1).mean(-1) * self.attn2.scale
        return dict(logits=self.classifier(embedding), embedding=embedding, attention=attention)
