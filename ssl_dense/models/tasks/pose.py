"""Pose: teacher-student glue and strong-view augmentation for mmpose
top-down heatmap estimators."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData, PixelData
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.models.heads import HeatmapHead
from mmpose.models.utils.tta import flip_heatmaps
from torch import Tensor

from ssl_dense.models.semi.adapter import BaseTaskAdapter, homography_of, zero_like_graph
from ssl_dense.registry import MODELS, TASK_UTILS

__all__ = ['PoseAdapter', 'OraclePoseAdapter', 'KeypointMix', 'MultiLevelHeatmapHead',
           'heatmap_keypoints', 'warp_heatmaps']


def heatmap_keypoints(heatmaps: Tensor, stride: float) -> Tuple[Tensor, Tensor]:
    """Keypoints (N, K, 2) in input pixels and scores (N, K) of heatmaps
    (N, K, h, w): the arg-max cell, moved a quarter cell towards the higher
    neighbour (as mmpose's ``refine_keypoints``), times the stride."""
    n, k, h, w = heatmaps.shape
    scores, idx = heatmaps.reshape(n, k, -1).max(dim=-1)
    x, y = (idx % w).to(heatmaps.dtype), (idx // w).to(heatmaps.dtype)
    xi, yi = (idx % w).reshape(-1), (idx // w).reshape(-1)
    hm = heatmaps.reshape(n * k, h, w)
    rows = torch.arange(n * k, device=heatmaps.device)
    right = hm[rows, yi, (xi + 1).clamp(max=w - 1)]
    left = hm[rows, yi, (xi - 1).clamp(min=0)]
    down = hm[rows, (yi + 1).clamp(max=h - 1), xi]
    up = hm[rows, (yi - 1).clamp(min=0), xi]
    inner_x = ((xi > 0) & (xi < w - 1)).to(heatmaps.dtype)
    inner_y = ((yi > 0) & (yi < h - 1)).to(heatmaps.dtype)
    x = x + 0.25 * torch.sign(right - left).reshape(n, k) * inner_x.reshape(n, k)
    y = y + 0.25 * torch.sign(down - up).reshape(n, k) * inner_y.reshape(n, k)
    return torch.stack([x, y], dim=-1) * stride, scores


def warp_heatmaps(heatmaps: Tensor, matrix: Tensor, src_stride: float, dst_stride: float,
                  out_size: Tuple[int, int]) -> Tensor:
    """Move heatmaps from one view to another (bilinear; zero where the
    target cell has no source cell behind it).

    Args:
        heatmaps (Tensor): Source-view heatmaps, shape (K, h, w); cell
            (x, y) is input pixel (x, y) times ``src_stride``, as the
            mmpose codecs draw them.
        matrix (Tensor): 3x3 homography from source-view input pixels to
            target-view input pixels.
        src_stride (float): Input pixels per source heatmap cell.
        dst_stride (float): Input pixels per target heatmap cell.
        out_size (tuple[int, int]): (w, h) of the target heatmaps.

    Returns:
        Tensor: Target-view heatmaps, shape (K, out_h, out_w).
    """
    out_w, out_h = out_size
    like = dict(dtype=heatmaps.dtype, device=heatmaps.device)
    ys, xs = torch.meshgrid(torch.arange(out_h, **like), torch.arange(out_w, **like),
                            indexing='ij')
    points = torch.stack([xs.flatten() * dst_stride, ys.flatten() * dst_stride,
                          torch.ones(out_h * out_w, **like)])
    source = torch.linalg.inv(matrix.to(**like)) @ points
    cells = source[:2] / source[2:] / src_stride  # (2, out_h * out_w): x, y
    h, w = heatmaps.shape[-2:]
    grid = torch.stack([2 * cells[0] / max(w - 1, 1) - 1, 2 * cells[1] / max(h - 1, 1) - 1],
                       dim=-1).reshape(1, out_h, out_w, 2)
    return F.grid_sample(heatmaps[None], grid, mode='bilinear', padding_mode='zeros',
                         align_corners=True)[0]


def _view_order(sample, num_keypoints: int, homography: Tensor) -> np.ndarray:
    """Keypoint k of the view is keypoint ``order[k]`` of the image.

    A horizontal or vertical flip mirrors the view, so left and right swap
    (``flip_indices``); a diagonal flip is a half turn and swaps nothing, as
    in mmpose's ``flip_keypoints``. A mirrored homography without ``flip``
    in the metainfo is an error: the channels would silently stay unswapped.
    """
    meta = sample.metainfo
    name = meta.get('img_path', 'a sample')
    if 'flip' not in meta:
        if float(torch.linalg.det(homography[:2, :2])) < 0:
            raise KeyError(f'{name}: its view is mirrored (homography determinant < 0) but '
                           "its metainfo has no 'flip'; add 'flip', 'flip_direction' and "
                           "'flip_indices' to PackPoseInputs' meta_keys")
        return np.arange(num_keypoints)
    if not meta['flip'] or meta.get('flip_direction', 'horizontal') == 'diagonal':
        return np.arange(num_keypoints)
    if 'flip_indices' not in meta:
        raise KeyError(f"{name}: flipped view without 'flip_indices' in its metainfo; add it "
                       "to PackPoseInputs' meta_keys")
    return np.asarray(meta['flip_indices'])


@TASK_UTILS.register_module()
class PoseAdapter(BaseTaskAdapter):
    """Teacher-student glue for mmpose top-down heatmap estimators.

    * Pseudo keypoints: the teacher's heatmaps on the weak view give each
      keypoint a location (arg-max, refined by a quarter cell) and a
      confidence (the heatmap maximum). The shared threshold registry keeps
      keypoints per keypoint type (``num_classes`` = number of keypoints).
    * Reviewers (historical teachers, :class:`~ssl_dense.engine.ReviewerHook`)
      predict on the weak view too: a keypoint is kept only where every
      reviewer agrees with the teacher (arg-max distance at most
      ``agree_dist`` of the heatmap diagonal) and the mean confidence of
      teacher and reviewers passes the threshold. The reviewers also add a
      consistency loss (``loss_reviewer``, weight ``reviewer_weight``): the
      student's strong-view heatmaps against heatmaps drawn at the reviewers'
      own (mean) locations, on the agreed keypoints.
    * Transfer: keypoints move from the weak to the strong view through the
      views' ``homography_matrix`` (recorded by
      :class:`~ssl_dense.datasets.TopdownAffineWithHomography`), left and
      right swapped as the views' flips demand; keypoints that leave the
      strong view's input are dropped. Targets are drawn with the model's
      own codec (``head.decoder``), so any batch augmentation (e.g.
      :class:`KeypointMix`) sees heatmaps and keypoints. With
      ``pseudo_targets='teacher'`` the targets are instead the teacher's
      (and reviewers') own weak-view heatmaps, warped to the strong view
      through the same homographies (bilinear; PoseDual-style soft targets)
      and scaled so that each keypoint's peak is 1, as the codec's are.
    * The student's loss on the strong view is its head's own loss against
      those targets (any mmpose heatmap head, multi-level ones included);
      with no kept keypoint it is an exact, graph-connected zero.

    Args:
        agree_dist (float): Largest teacher-reviewer arg-max distance, as a
            share of the heatmap diagonal. Defaults to 0.05.
        reviewer_weight (float): Weight of the reviewer consistency loss
            (0 turns it off). Defaults to 1.0.
        correct_dist (float): For pseudo-label quality and the labeled scores
            of dual thresholds: a keypoint is right within this share of the
            input diagonal (PCK-style). Defaults to 0.05.
        flip_test (bool): Teacher and reviewers predict on the weak view and
            its mirror image and average the heatmaps (left and right swapped
            back, shifted as the model's ``test_cfg.shift_heatmap`` says), as
            mmpose's flip test does at inference. Defaults to False.
        pseudo_targets (str): ``'gaussian'``: targets drawn by the codec at
            the pseudo keypoints; ``'teacher'``: the teacher's own heatmaps
            (reviewers' mean heatmaps for the reviewer loss), warped to the
            strong view and peak-normalised. Which keypoints count
            (threshold, reviewer agreement, inside the crop) is the same for
            both. Defaults to ``'gaussian'``.
    """

    pseudo_target_kinds = ('gaussian', 'teacher')

    def __init__(self, agree_dist: float = 0.05, reviewer_weight: float = 1.0,
                 correct_dist: float = 0.05, flip_test: bool = False,
                 pseudo_targets: str = 'gaussian') -> None:
        for name, value in (('agree_dist', agree_dist), ('correct_dist', correct_dist)):
            if not value > 0:
                raise ValueError(f'{name} must be > 0, got {value}')
        if reviewer_weight < 0:
            raise ValueError(f'reviewer_weight must be >= 0, got {reviewer_weight}')
        if pseudo_targets not in self.pseudo_target_kinds:
            raise ValueError(f'pseudo_targets must be one of {self.pseudo_target_kinds}, '
                             f'got {pseudo_targets!r}')
        self.agree_dist, self.reviewer_weight = agree_dist, reviewer_weight
        self.correct_dist, self.flip_test = correct_dist, flip_test
        self.pseudo_targets = pseudo_targets
        self._codec = None  # the model's head.decoder, taken from the teacher

    meta_classes_key = 'keypoint_id2name'

    def num_classes(self, model: nn.Module) -> int:
        head = getattr(model, 'head', None)
        if head is None or not hasattr(head, 'out_channels'):
            raise AttributeError(f'{type(model).__name__} has no head.out_channels (a top-down '
                                 'heatmap head); set threshold.num_classes to the keypoint count')
        return int(head.out_channels)

    def supervised_loss(self, student, inputs, data_samples):
        return student.loss(inputs, data_samples)

    @staticmethod
    @torch.no_grad()
    def predict_heatmaps(model: nn.Module, inputs: Tensor) -> Tensor:
        """Heatmaps (N, K, h, w) of ``model``; a multi-level head gives what its
        ``inference`` setting names (the final level or the fusion)."""
        out = model.head.forward(model.extract_feat(inputs))
        return out[-1] if isinstance(out, (list, tuple)) else out

    @torch.no_grad()
    def teacher_heatmaps(self, model: nn.Module, inputs: Tensor, data_samples) -> Tensor:
        """Heatmaps of ``model`` that pseudo keypoints are read from: those of
        :meth:`predict_heatmaps`, averaged with the mirror image's when
        ``flip_test``."""
        heatmaps = self.predict_heatmaps(model, inputs)
        if not self.flip_test:
            return heatmaps
        flip_indices = data_samples[0].metainfo.get('flip_indices')
        if flip_indices is None or len(flip_indices) != heatmaps.shape[1]:
            raise KeyError(f'flip_test needs the {heatmaps.shape[1]} flip_indices of the '
                           f'dataset meta in the samples\' metainfo (PackPoseInputs meta_keys), '
                           f'got {flip_indices} for {data_samples[0].metainfo.get("img_path")}')
        test_cfg = getattr(model, 'test_cfg', None) or {}
        mirrored = flip_heatmaps(self.predict_heatmaps(model, inputs.flip(-1)),
                                 flip_indices=list(flip_indices), flip_mode='heatmap',
                                 shift_heatmap=test_cfg.get('shift_heatmap', True))
        return (heatmaps + mirrored) / 2

    def _take_codec(self, model: nn.Module) -> None:
        if self._codec is None:
            codec = getattr(model.head, 'decoder', None)
            if codec is None or not hasattr(codec, 'encode'):
                raise AttributeError('the pose head has no decoder (codec) to draw pseudo '
                                     'heatmaps with; give the head a decoder= config')
            self._codec = codec

    @torch.no_grad()
    def pseudo_labels(self, teacher, inputs, data_samples, threshold,
                      reviewers: Sequence[nn.Module] = ()) -> List[InstanceData]:
        self._take_codec(teacher)
        heatmaps = self.teacher_heatmaps(teacher, inputs, data_samples)
        n, k, h, w = heatmaps.shape
        stride = inputs.shape[-1] / w
        keypoints, scores = heatmap_keypoints(heatmaps, stride)
        agree = torch.ones_like(scores, dtype=torch.bool)
        fused = scores.clone()
        reviewer_kps = torch.zeros_like(keypoints)
        reviewer_maps = torch.zeros_like(heatmaps)
        for reviewer in reviewers:
            r_maps = self.teacher_heatmaps(reviewer, inputs, data_samples)
            reviewer_maps += r_maps
            r_kps, r_scores = heatmap_keypoints(r_maps, stride)
            limit = self.agree_dist * math.hypot(h, w) * stride
            agree &= (r_kps - keypoints).norm(dim=-1) <= limit
            fused += r_scores
            reviewer_kps += r_kps
        fused /= 1 + len(reviewers)
        labels = torch.arange(k, device=scores.device).expand(n, k)
        threshold.update(fused.flatten(), labels.flatten())
        passed = threshold(fused.flatten(), labels.flatten()).view(n, k)
        weights = passed * agree
        if reviewers and (passed > 0).any():
            # Share of the confident keypoints that the reviewers confirm.
            MessageHub.get_current_instance().update_scalar(
                'train/pl_reviewer_agree',
                ((weights > 0).sum() / (passed > 0).sum()).item())
        pseudo = []
        for i in range(n):
            inst = InstanceData(keypoints=keypoints[i], scores=fused[i],
                                keypoint_weights=weights[i])
            if reviewers:
                inst.reviewer_keypoints = reviewer_kps[i] / len(reviewers)
            if self.pseudo_targets == 'teacher':
                inst.soft_heatmaps = heatmaps[i]
                if reviewers:
                    inst.soft_reviewer_heatmaps = reviewer_maps[i] / len(reviewers)
            pseudo.append(inst)
        return pseudo

    @torch.no_grad()
    def labeled_scores(self, teacher, inputs, data_samples) -> Tuple[Tensor, Tensor]:
        """Teacher confidences of visible labeled keypoints it places right."""
        heatmaps = self.teacher_heatmaps(teacher, inputs, data_samples)
        keypoints, scores = heatmap_keypoints(heatmaps, inputs.shape[-1] / heatmaps.shape[-1])
        right = self._correct(keypoints, data_samples, math.hypot(*inputs.shape[-2:]))
        labels = torch.arange(scores.shape[1], device=scores.device).expand_as(scores)
        return scores[right], labels[right]

    def _correct(self, keypoints: Tensor, data_samples, diagonal: float) -> Tensor:
        """(N, K) keypoints within ``correct_dist`` of the input diagonal
        from the view's visible truth."""
        limit = self.correct_dist * diagonal
        out = torch.zeros(keypoints.shape[:2], dtype=torch.bool, device=keypoints.device)
        for i, sample in enumerate(data_samples):
            gt = sample.gt_instances
            if 'transformed_keypoints' not in gt or len(gt) == 0:
                raise KeyError(f'{sample.metainfo.get("img_path", "a sample")} has no '
                               'gt_instances.transformed_keypoints; set pack_transformed=True '
                               'in PackPoseInputs')
            truth = torch.as_tensor(gt.transformed_keypoints[0], dtype=keypoints.dtype,
                                    device=keypoints.device)[:, :2]
            visible = torch.as_tensor(gt.keypoints_visible[0], device=keypoints.device) > 0
            out[i] = visible & ((keypoints[i] - truth).norm(dim=-1) <= limit)
        return out

    def transfer(self, pseudo, source_samples, target_samples) -> List[InstanceData]:
        moved = []
        for inst, src, dst in zip(pseudo, source_samples, target_samples):
            k = len(inst)
            like = inst.keypoints
            src_h, dst_h = homography_of(src, like), homography_of(dst, like)
            matrix = dst_h @ torch.linalg.inv(src_h)
            # Strong keypoint j is image keypoint dst_order[j], which is weak
            # keypoint src_inverse[dst_order[j]].
            src_inverse = np.argsort(_view_order(src, k, src_h))
            take = torch.as_tensor(src_inverse[_view_order(dst, k, dst_h)], device=like.device)
            out = InstanceData()
            for key in ('keypoints', 'reviewer_keypoints'):
                if key in inst:
                    pts = inst.get(key)[take]
                    pts = torch.cat([pts, torch.ones_like(pts[:, :1])], dim=1) @ matrix.T
                    out.set_field(pts[:, :2] / pts[:, 2:], key)
            w, h = dst.metainfo['input_size']
            x, y = out.keypoints[:, 0], out.keypoints[:, 1]
            inside = (x >= 0) & (y >= 0) & (x < w) & (y < h)
            out.scores = inst.scores[take]
            weights = inst.keypoint_weights[take] * inside
            if 'soft_heatmaps' in inst:
                out.keypoint_weights = weights
                for key in ('heatmaps', 'reviewer_heatmaps'):
                    if f'soft_{key}' in inst:
                        out.set_field(self._warp(inst.get(f'soft_{key}')[take], matrix,
                                                 src.metainfo['input_size'][0], w), key)
            else:
                # The codec also drops keypoints whose Gaussian would fall off the heatmap.
                out.heatmaps, drawable = self._draw(out.keypoints, weights)
                out.keypoint_weights = weights * drawable
                if 'reviewer_keypoints' in out:
                    out.reviewer_heatmaps, _ = self._draw(out.reviewer_keypoints,
                                                          out.keypoint_weights)
            moved.append(out)
        return moved

    def _warp(self, heatmaps: Tensor, matrix: Tensor, src_width: float,
              dst_width: float) -> Tensor:
        """Weak-view heatmaps (K, h, w) on the strong view at the codec's
        heatmap size, each keypoint's peak scaled to 1."""
        if self._codec is None:
            raise RuntimeError('PoseAdapter.transfer before pseudo_labels: no codec yet')
        size = tuple(int(v) for v in self._codec.heatmap_size)
        warped = warp_heatmaps(heatmaps, matrix, src_width / heatmaps.shape[-1],
                               dst_width / size[0], size).clamp(min=0)
        return warped / warped.flatten(1).amax(dim=1).clamp(min=1e-6)[:, None, None]

    def _draw(self, keypoints: Tensor, weights: Tensor) -> Tuple[Tensor, Tensor]:
        """Target heatmaps (K, h, w) of keypoints (K, 2) with the model's codec,
        and which keypoints it could draw (K, )."""
        if self._codec is None:
            raise RuntimeError('PoseAdapter.transfer before pseudo_labels: no codec yet')
        encoded = self._codec.encode(keypoints[None].detach().cpu().numpy(),
                                     (weights[None] > 0).float().cpu().numpy())
        like = dict(dtype=keypoints.dtype, device=keypoints.device)
        return (torch.as_tensor(encoded['heatmaps'], **like),
                torch.as_tensor(encoded['keypoint_weights'][0], **like))

    def unsupervised_loss(self, student, inputs, data_samples, pseudo) -> Dict[str, Tensor]:
        weights = torch.stack([p.keypoint_weights for p in pseudo])
        if not bool((weights > 0).any()):
            out = {'loss_kpt': zero_like_graph(student)}
            if self.reviewer_weight > 0 and any('reviewer_heatmaps' in p for p in pseudo):
                out['loss_reviewer'] = zero_like_graph(student)
            return out
        feats = student.extract_feat(inputs)
        train_cfg = getattr(student, 'train_cfg', None) or {}
        losses = student.head.loss(feats, self._targets(data_samples, pseudo, 'heatmaps'),
                                   train_cfg=train_cfg)
        if self.reviewer_weight > 0 and all('reviewer_heatmaps' in p for p in pseudo):
            reviewer = student.head.loss(
                feats, self._targets(data_samples, pseudo, 'reviewer_heatmaps'),
                train_cfg=dict(train_cfg, compute_acc=False))
            losses['loss_reviewer'] = sum(v for key, v in reviewer.items()
                                          if 'loss' in key) * self.reviewer_weight
        return losses

    @staticmethod
    def _targets(data_samples, pseudo, key: str) -> list:
        """Copies of the strong-view samples whose targets are the pseudo ones."""
        out = []
        for sample, inst in zip(data_samples, pseudo):
            # A new sample (metainfo only): the head's loss reads just these targets.
            target = type(sample)(metainfo=sample.metainfo)
            target.gt_fields = PixelData(heatmaps=inst.get(key))
            target.gt_instance_labels = InstanceData(
                keypoint_weights=inst.keypoint_weights[None])
            out.append(target)
        return out

    def pseudo_label_stats(self, pseudo, num_classes: int) -> Dict[str, Tensor]:
        weights = torch.stack([p.keypoint_weights for p in pseudo]).cpu()
        scores = torch.stack([p.scores for p in pseudo]).cpu()
        kept = weights > 0
        count = kept.sum(dim=0).float()
        mean_score = (scores * kept).sum(dim=0) / count.clamp(min=1)
        return dict(count=count, mean_score=mean_score)

    def pseudo_label_quality(self, pseudo, data_samples, num_classes: int
                             ) -> Optional[Dict[str, Tensor]]:
        keypoints = torch.stack([p.keypoints for p in pseudo])
        kept = torch.stack([p.keypoint_weights for p in pseudo]) > 0
        right = self._correct(keypoints, data_samples,
                              math.hypot(*data_samples[0].metainfo['input_size']))
        visible = torch.stack([torch.as_tensor(s.gt_instances.keypoints_visible[0]) > 0
                               for s in data_samples]).to(kept.device)
        return dict(num_pseudo=kept.sum(0).float().cpu(),
                    tp=(kept & right).sum(0).float().cpu(),
                    num_gt=visible.sum(0).float().cpu(),
                    num_gt_found=(kept & right & visible).sum(0).float().cpu())


@TASK_UTILS.register_module()
class OraclePoseAdapter(PoseAdapter):
    """A diagnostic: the weak view's *true* keypoints as pseudo keypoints.

    Everything else is the :class:`PoseAdapter`'s: the keypoints move to the
    strong view through the same homographies (left and right swapped where
    flipped, those that leave the crop dropped), are drawn with the model's
    codec, and batch augmentations (:class:`KeypointMix`) and the loss see
    them as they see pseudo keypoints. Visible keypoints count; invisible
    ones and images without an annotation weigh 0. Training with it shows
    the most the unlabeled path can give a recipe: if even right keypoints
    gain little over supervised training, no threshold or reviewer can gain
    more. Never a method for results: it reads the truth of the "unlabeled"
    images (a hidden-truth json and ``PackPoseInputs(pack_transformed=True)``,
    as the semi-supervised bee configs have with ``model.hidden_gt=True``).

    Args:
        keep (str): Which keypoints count. ``'visible'``: every visible true
            keypoint (the teacher is not run). ``'teacher'``: only those the
            teacher's own pseudo keypoint would keep (its heatmap maximum
            passes the threshold policy), placed at the truth: set against
            ``'visible'`` and the mean teacher, it splits what the teacher's
            pseudo keypoints lack into how many it keeps and where it puts
            them. Reviewers are not run either way. Defaults to
            ``'visible'``.
        **kwargs: :class:`PoseAdapter` arguments.
    """

    keep_kinds = ('visible', 'teacher')

    def __init__(self, keep: str = 'visible', **kwargs) -> None:
        super().__init__(**kwargs)
        if keep not in self.keep_kinds:
            raise ValueError(f'keep must be one of {self.keep_kinds}, got {keep!r}')
        self.keep = keep

    @torch.no_grad()
    def pseudo_labels(self, teacher, inputs, data_samples, threshold,
                      reviewers: Sequence[nn.Module] = ()) -> List[InstanceData]:
        self._take_codec(teacher)
        k = self.num_classes(teacher)
        kept = None
        if self.keep == 'teacher':
            scores = self.teacher_heatmaps(teacher, inputs, data_samples).flatten(2).amax(-1)
            labels = torch.arange(k, device=scores.device).expand_as(scores)
            threshold.update(scores.flatten(), labels.flatten())
            kept = threshold(scores.flatten(), labels.flatten()).view_as(scores) > 0
        pseudo = []
        for sample in data_samples:
            gt = sample.get('gt_instances')
            if gt is None or 'transformed_keypoints' not in gt:
                raise KeyError(f'{sample.metainfo.get("img_path", "an unlabeled sample")} has no '
                               'gt_instances.transformed_keypoints: OraclePoseAdapter needs the '
                               'hidden truth of the unlabeled images (a hidden_gt json and '
                               'PackPoseInputs(pack_transformed=True))')
            keypoints, weights = inputs.new_zeros(k, 2), inputs.new_zeros(k)
            if len(gt) > 0:
                truth = torch.as_tensor(np.asarray(gt.transformed_keypoints[0])[:, :2],
                                        dtype=inputs.dtype, device=inputs.device)
                if truth.shape[0] != k:
                    raise ValueError(f'{sample.metainfo.get("img_path")}: {truth.shape[0]} true '
                                     f'keypoints, the head predicts {k}')
                keypoints = truth
                weights = (torch.as_tensor(np.asarray(gt.keypoints_visible[0]),
                                           device=inputs.device) > 0).to(inputs.dtype)
                if kept is not None:
                    weights = weights * kept[len(pseudo)]
            pseudo.append(InstanceData(keypoints=keypoints, scores=weights.clone(),
                                       keypoint_weights=weights))
        return pseudo


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
    (now showing the partner's appearance), and keypoints of the partner that
    come along with the patch peak where they were pasted. A keypoint of
    ``i`` hidden under the patch takes the pasted one's place (label and
    location) where the partner's keypoint of that kind lies inside the
    copied patch; otherwise it gets weight 0: it is occluded, and its target
    would be a Gaussian with the patch cut out of it. Later patches of the
    same sample see the earlier ones' result. Shifts are whole heatmap cells, so the pasted peak
    lands within one cell of ``i``'s keypoint. Cells and pixels follow
    mmpose's codecs: cell ``c`` is centred on pixel ``c * stride``, so the
    image patch covers exactly the pixels of the heatmap cells pasted.

    Called as ``inputs, pseudo = aug(inputs, pseudo)`` with ``inputs``
    (N, C, H, W) and one :class:`InstanceData` per sample holding, for its
    J keypoints, ``keypoints`` (J, 2) in input pixels (x, y),
    ``keypoint_weights`` (J, ) and ``heatmaps`` (J, h, w) with ``H / h ==
    W / w`` (the heatmap stride); ``reviewer_heatmaps`` (see
    :class:`PoseAdapter`) are mixed alike. Neither argument is changed in
    place.

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
        fields = [key for key in ('heatmaps', 'reviewer_heatmaps') if key in pseudo[0]]
        out = [p.clone() for p in pseudo]
        for p in out:
            for key in fields + ['keypoint_weights', 'keypoints']:  # clone shares tensors
                p.set_field(p.get(key).clone(), key)
        if n < 2:
            return inputs, out
        hm_h, hm_w = pseudo[0].heatmaps.shape[-2:]
        stride = height / hm_h
        if not math.isclose(stride, width / hm_w, rel_tol=1e-6):
            raise ValueError(f'inputs {height}x{width} and heatmaps {hm_h}x{hm_w} need one '
                             'stride in both directions')
        cells = self.patch_cells((height, width), stride)
        limit = torch.tensor([hm_w - 1, hm_h - 1], device=inputs.device)

        def cell(points: Tensor) -> Tensor:
            # The cell of mmpose's codecs (MSRAHeatmap): a keypoint at pixel p
            # peaks in cell int(p / stride + 0.5), the cell c covering pixels
            # [(c - 0.5) * stride, (c + 0.5) * stride); kept on the map.
            c = (points.to(limit.device) / stride + 0.5).floor().long()
            return torch.minimum(c.clamp(min=0), limit)

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
            cells_i = cell(pseudo[i].keypoints)  # where i's labels peak now
            cells_j = cell(pseudo[j].keypoints)
            for k in chosen.tolist():
                if out[i].keypoint_weights[k] <= 0:  # hidden by an earlier patch
                    continue
                cj = cells_j[k].tolist()
                ci = cells_i[k].tolist()
                dx, dy = ci[0] - cj[0], ci[1] - cj[1]  # whole-cell shift
                # Source cells around the partner's keypoint, clipped so that
                # they and their shifted copies both lie inside the heatmap.
                x1 = max(cj[0] - cells // 2, 0, -dx)
                y1 = max(cj[1] - cells // 2, 0, -dy)
                x2 = min(cj[0] - cells // 2 + cells, hm_w, hm_w - dx)
                y2 = min(cj[1] - cells // 2 + cells, hm_h, hm_h - dy)
                if x2 <= x1 or y2 <= y1:
                    continue
                for key in fields:
                    out[i].get(key)[:, y1 + dy:y2 + dy, x1 + dx:x2 + dx] = \
                        pseudo[j].get(key)[:, y1:y2, x1:x2]
                # The pixels of those cells, clipped likewise.
                qx, qy = int(round(dx * stride)), int(round(dy * stride))
                px1 = max(int(round((x1 - 0.5) * stride)), 0, -qx)
                py1 = max(int(round((y1 - 0.5) * stride)), 0, -qy)
                px2 = min(int(round((x2 - 0.5) * stride)), width, width - qx)
                py2 = min(int(round((y2 - 0.5) * stride)), height, height - qy)
                out_inputs[i, :, py1 + qy:py2 + qy, px1 + qx:px2 + qx] = \
                    inputs[j, :, py1:py2, px1:px2]
                # i's keypoints under the patch: the pasted keypoint of the
                # same kind replaces each, or, where the patch does not hold
                # one, the keypoint is occluded and unknown.
                shift = torch.tensor([dx, dy], device=limit.device)
                under = self._inside(cells_i, x1 + dx, y1 + dy, x2 + dx, y2 + dy)
                pasted = self._inside(cells_j, x1, y1, x2, y2) & (pseudo[j].keypoint_weights > 0)
                out[i].keypoint_weights[under & ~pasted] = 0
                took = under & pasted
                cells_i[took] = cells_j[took] + shift
                out[i].keypoints[took] = (pseudo[j].keypoints[took]
                                          + shift.to(pseudo[j].keypoints) * stride)
        return out_inputs, out

    @staticmethod
    def _inside(cells: Tensor, x1: int, y1: int, x2: int, y2: int) -> Tensor:
        """Which cells (K, 2) lie in columns [x1, x2) and rows [y1, y2)."""
        return ((cells[:, 0] >= x1) & (cells[:, 0] < x2)
                & (cells[:, 1] >= y1) & (cells[:, 1] < y2))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_keypoints={self.num_keypoints}, '
                f'patch_size={self.patch_size}, prob={self.prob})')


@MODELS.register_module()
class MultiLevelHeatmapHead(HeatmapHead):
    """Multi-level Feature Learning: heatmaps from several backbone stages.

    The last stage goes through mmpose's ``HeatmapHead`` (deconvolutions,
    final conv); every earlier stage gets a light side branch (1x1 conv to
    ``side_channels``, BN, ReLU, 3x3 conv to the keypoints) on its features
    resized (bilinear) to the heatmap size. In training every level is
    supervised with the head's loss against the same targets, weighted by
    ``level_weights`` (``loss_kpt`` is their weighted sum; ``mse_level<i>``
    are logged). At inference (``forward``, ``predict``, flip test included)
    the heatmaps are the last level's (``inference='final'``) or the
    weighted mean of all levels (``'fusion'``, ``fusion_weights``).

    Use with a backbone that returns several stages, e.g. ResNet with
    ``out_indices=(1, 2, 3)`` and ``in_channels=(128, 256, 512)``.

    Args:
        in_channels (Sequence[int]): Channels of the stages the head reads,
            shallow to deep (the last one feeds the deconvolution path).
        out_channels (int): Number of keypoints.
        level_weights (Sequence[float], optional): Loss weight per level.
            Defaults to 1 for every level.
        inference (str): ``'final'`` or ``'fusion'``. Defaults to 'final'.
        fusion_weights (Sequence[float], optional): Weights of the levels in
            the fusion (normalised to sum 1). Defaults to equal weights.
        side_channels (int): Width of the side branches. Defaults to 64.
        **kwargs: The rest of ``HeatmapHead``'s arguments (deconvolutions,
            ``loss``, ``decoder``, ...).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int,
                 level_weights: Optional[Sequence[float]] = None, inference: str = 'final',
                 fusion_weights: Optional[Sequence[float]] = None, side_channels: int = 64,
                 **kwargs) -> None:
        in_channels = list(in_channels)
        if not in_channels:
            raise ValueError('in_channels needs one entry per backbone stage the head reads')
        super().__init__(in_channels=in_channels[-1], out_channels=out_channels, **kwargs)
        levels = len(in_channels)
        self.level_weights = [1.0] * levels if level_weights is None else list(level_weights)
        fusion = [1.0] * levels if fusion_weights is None else list(fusion_weights)
        for name, values in (('level_weights', self.level_weights), ('fusion_weights', fusion)):
            if len(values) != levels or min(values) < 0 or sum(values) <= 0:
                raise ValueError(f'{name} needs {levels} non-negative values (one per entry of '
                                 f'in_channels) with a positive sum, got {values}')
        if inference not in ('final', 'fusion'):
            raise ValueError(f"inference must be 'final' or 'fusion', got {inference!r}")
        self.inference = inference
        self.fusion_weights = [w / sum(fusion) for w in fusion]
        self.level_channels = in_channels
        self.sides = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, side_channels, 1), nn.BatchNorm2d(side_channels),
                          nn.ReLU(inplace=True),
                          nn.Conv2d(side_channels, out_channels, 3, padding=1))
            for c in in_channels[:-1])

    def forward_levels(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Heatmaps of every level, shallow to deep (the last is HeatmapHead's)."""
        if len(feats) < len(self.level_channels):
            raise ValueError(f'{type(self).__name__} reads {len(self.level_channels)} stages '
                             f'(in_channels={self.level_channels}) but the backbone gave '
                             f'{len(feats)}; set the backbone\'s out_indices to match')
        final = HeatmapHead.forward(self, feats)
        stages = feats[len(feats) - len(self.level_channels):-1]
        sides = [branch(F.interpolate(f, size=final.shape[-2:], mode='bilinear',
                                      align_corners=False))
                 for branch, f in zip(self.sides, stages)]
        return sides + [final]

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        levels = self.forward_levels(feats)
        if self.inference == 'final':
            return levels[-1]
        return sum(w * hm for w, hm in zip(self.fusion_weights, levels))

    def loss(self, feats, batch_data_samples, train_cfg: dict = {}) -> dict:
        levels = self.forward_levels(feats)
        gt_heatmaps = torch.stack([d.gt_fields.heatmaps for d in batch_data_samples])
        keypoint_weights = torch.cat(
            [d.gt_instance_labels.keypoint_weights for d in batch_data_samples])
        losses, total = {}, 0.0
        for i, (heatmaps, weight) in enumerate(zip(levels, self.level_weights)):
            value = self.loss_module(heatmaps, gt_heatmaps, keypoint_weights)
            total = total + weight * value
            losses[f'mse_level{i}'] = value.detach()
        losses['loss_kpt'] = total
        if train_cfg.get('compute_acc', True):
            _, avg_acc, _ = pose_pck_accuracy(
                output=levels[-1].detach().cpu().numpy(),
                target=gt_heatmaps.detach().cpu().numpy(),
                mask=keypoint_weights.detach().cpu().numpy() > 0)
            losses['acc_pose'] = torch.tensor(avg_acc, device=gt_heatmaps.device)
        return losses
