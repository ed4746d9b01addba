"""Pose: batch augmentations for the strong view of top-down heatmap models."""
import math
from typing import List, Tuple, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from ssl_dense.registry import MODELS

__all__ = ['KeypointMix']


@MODELS.register_module()
class KeypointMix:
    """Keypoint-Mix: paste patches around keypoints of another sample onto
    this sample's keypoints of the same kind, pseudo heatmaps alike.

    For each sample ``i`` (with probability ``prob``), the partner is the next
    sample of the batch (cyclically). Up to ``num_keypoints`` keypoints that
    both samples carry (weight > 0) are chosen at random; for each keypoint
    ``k``, the square patch of side ``patch_size`` centred on the partner's
    keypoint ``k`` is copied onto sample ``i`` so that it is centred on
    ``i``'s own keypoint ``k``. The pseudo heatmaps of the same region are
    copied from the partner with the same shift, so the image and its
    targets stay consistent: keypoint ``k`` still peaks at ``i``'s location
    (now showing the partner's appearance), keypoints of the partner that
    come along with the patch peak where they were pasted, and ``i``'s own
    keypoints hidden under the patch lose their peak (they are occluded).
    Shifts are whole heatmap cells, so the pasted peak lands within half a
    cell of ``i``'s keypoint.

    Called as ``inputs, pseudo = aug(inputs, pseudo)`` with ``inputs``
    (N, C, H, W) and one :class:`InstanceData` per sample holding, for its
    J keypoints, ``keypoints`` (J, 2) in input pixels (x, y),
    ``keypoint_weights`` (J, ) and ``heatmaps`` (J, h, w) with ``H / h ==
    W / w`` (the heatmap stride). Neither argument is changed in place.

    Args:
        num_keypoints (int): Keypoints mixed per sample (K). Defaults to 3.
        patch_size (int | float): Patch side in input pixels, or as a share
            of the shorter input side when below 1. Defaults to 0.15.
        prob (float): Chance that a sample is mixed. Defaults to 0.5.
    """

    def __init__(self, num_keypoints: int = 3, patch_size: Union[int, float] = 0.15,
                 prob: float = 0.5) -> None:
        if num_keypoints < 1:
            raise ValueError(f'num_keypoints must be >= 1, got {num_keypoints}')
        if not patch_size > 0:
            raise ValueError(f'patch_size must be > 0, got {patch_size}')
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.num_keypoints, self.patch_size, self.prob = num_keypoints, patch_size, prob

    def patch_cells(self, input_shape: Tuple[int, int], stride: float) -> int:
        """Patch side in heatmap cells (at least one)."""
        side = self.patch_size if self.patch_size >= 1 else self.patch_size * min(input_shape)
        return max(1, int(round(side / stride)))

    def __call__(self, inputs: Tensor, pseudo: List[InstanceData]
                 ) -> Tuple[Tensor, List[InstanceData]]:
        n, _, height, width = inputs.shape
        if len(pseudo) != n:
            raise ValueError(f'KeypointMix got {n} inputs but {len(pseudo)} pseudo labels')
        out = [p.clone() for p in pseudo]
        for p in out:
            p.heatmaps = p.heatmaps.clone()  # InstanceData.clone shares tensors
        if n < 2:
            return inputs, out
        hm_h, hm_w = pseudo[0].heatmaps.shape[-2:]
        stride = height / hm_h
        if not math.isclose(stride, width / hm_w, rel_tol=1e-6):
            raise ValueError(f'inputs {height}x{width} and heatmaps {hm_h}x{hm_w} need one '
                             'stride in both directions')
        cells = self.patch_cells((height, width), stride)
        out_inputs = inputs.clone()
        for i in range(n):
            if torch.rand(1).item() >= self.prob:
                continue
            j = (i + 1) % n
            both = (pseudo[i].keypoint_weights > 0) & (pseudo[j].keypoint_weights > 0)
            shared = both.nonzero().flatten()
            if shared.numel() == 0:
                continue
            chosen = shared[torch.randperm(shared.numel())[:self.num_keypoints]]
            for k in chosen.tolist():
                # Keypoint cells in heatmap coordinates; whole-cell shift.
                cj = (pseudo[j].keypoints[k] / stride).floor().long().tolist()
                ci = (pseudo[i].keypoints[k] / stride).floor().long().tolist()
                dx, dy = ci[0] - cj[0], ci[1] - cj[1]
                # Source box around the partner's keypoint, clipped so that it
                # and its shifted copy both lie inside the heatmap.
                x1 = max(cj[0] - cells // 2, 0, -dx)
                y1 = max(cj[1] - cells // 2, 0, -dy)
                x2 = min(cj[0] - cells // 2 + cells, hm_w, hm_w - dx)
                y2 = min(cj[1] - cells // 2 + cells, hm_h, hm_h - dy)
                if x2 <= x1 or y2 <= y1:
                    continue
                out[i].heatmaps[:, y1 + dy:y2 + dy, x1 + dx:x2 + dx] = \
                    pseudo[j].heatmaps[:, y1:y2, x1:x2]
                s = stride
                px1, py1, px2, py2 = (int(round(v * s)) for v in (x1, y1, x2, y2))
                qx, qy = int(round(dx * s)), int(round(dy * s))
                out_inputs[i, :, py1 + qy:py2 + qy, px1 + qx:px2 + qx] = \
                    inputs[j, :, py1:py2, px1:px2]
        return out_inputs, out

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_keypoints={self.num_keypoints}, '
                f'patch_size={self.patch_size}, prob={self.prob})')
