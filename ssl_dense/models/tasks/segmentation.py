"""Segmentation adapter: pixel pseudo labels for any mmseg EncoderDecoder."""
import math
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor

from ssl_dense.models.semi.adapter import (BaseTaskAdapter, finite_or_zero, homography_of,
                                           scale_loss, zero_like_graph)
from ssl_dense.registry import MODELS, TASK_UTILS

__all__ = ['SegmentationAdapter', 'OracleSegmentationAdapter', 'SegCutMix',
           'ClassBalancedPixelSampler', 'warp_label_map']


def _source_pixels(matrix: Tensor, out_shape: Tuple[int, int], valid_shape: Tuple[int, int],
                   src_shape: Tuple[int, int]) -> Tuple[Tensor, Tensor, Tensor]:
    """For every target pixel centre, the source row and column it maps back
    to (nearest neighbour) and whether that lies inside the source image."""
    h, w = out_shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5,
                            torch.arange(w, dtype=torch.float64) + 0.5, indexing='ij')
    points = torch.stack([xs, ys, torch.ones_like(xs)]).reshape(3, -1)
    src = torch.linalg.inv(matrix.double().cpu()) @ points
    src = src[:2] / src[2:].clamp(min=1e-12)
    sx, sy = src[0].reshape(h, w), src[1].reshape(h, w)
    inside = (sx >= 0) & (sy >= 0) & (sx < valid_shape[1]) & (sy < valid_shape[0])
    col = sx.floor().long().clamp(0, src_shape[1] - 1)
    row = sy.floor().long().clamp(0, src_shape[0] - 1)
    return row, col, inside


def _gather(values: Tensor, pixels: Tuple[Tensor, Tensor, Tensor], fill) -> Tensor:
    row, col, inside = pixels
    out = values.cpu()[row, col]
    out[~inside] = fill
    return out.to(values.device)


def warp_label_map(labels: Tensor, matrix: Tensor, out_shape: Tuple[int, int],
                   valid_shape: Tuple[int, int], ignore_index) -> Tensor:
    """Move a label map (or any per-pixel map) from one view to another
    (nearest neighbour).

    Args:
        labels (Tensor): Per-pixel values of the source view, shape (H, W).
        matrix (Tensor): 3x3 homography from source-view pixel coordinates
            to target-view pixel coordinates.
        out_shape (tuple[int, int]): (H, W) of the target map.
        valid_shape (tuple[int, int]): (H, W) of the source view's image
            inside ``labels`` (the rest is batch padding).
        ignore_index (int or float): Value of target pixels with no source
            pixel (outside the source image, or in its padding).

    Returns:
        Tensor: Values of shape ``out_shape``, dtype of ``labels``.
    """
    pixels = _source_pixels(matrix, out_shape, valid_shape, tuple(labels.shape))
    return _gather(labels, pixels, ignore_index)


@TASK_UTILS.register_module()
class SegmentationAdapter(BaseTaskAdapter):
    """Teacher-student glue for mmseg segmentors (``EncoderDecoder`` and kin).

    * The teacher's softmax on the weak view gives each pixel a class and a
      confidence (max probability, or the certainty ``1 - entropy /
      log(C)`` for policies with ``score_type='certainty'``, e.g. U2PL's);
      the threshold policy turns them into weights. A
      pixel with weight 1 is a pseudo label; any other pixel gets the decode
      head's ``ignore_index`` (pixel losses of mmseg take no soft weights).
    * Pseudo-label maps move to the strong view through the views' recorded
      ``homography_matrix`` (crop, flip, resize), nearest neighbour; pixels
      of the strong view with no weak-view pixel behind them are ignored.
    * The student's loss on the strong view is the segmentor's own loss
      (decode head, and auxiliary head if any) against the pseudo-label map.
      With no pseudo-labelled pixel at all it is an exact zero.

    Args:
        loss_weights (dict[str, float], optional): Weights of the student's
            loss terms on pseudo labels by name (e.g.
            ``{'aux.loss_ce': 0.0}``). Unlisted terms keep weight 1.
            Defaults to None.
        max_policy_pixels (int): At most this many pixels (a random subset)
            feed the threshold policy's statistics per batch, which keeps
            adaptive policies cheap on large images. Defaults to 65536.
        feature_perturbation (dict, optional): UniMatch's FP branch: the
            student also decodes the *weak* view from features with whole
            channels dropped (``Dropout2d(p)``) and learns the weak view's
            own pseudo labels, with loss weight ``weight``; e.g.
            ``dict(p=0.5, weight=0.5)``. ``at='neck'`` (default) drops
            channels of the neck's outputs (what the decode head reads);
            ``at='backbone'`` drops them on the backbone's outputs, before
            the neck, as UniMatch does on its encoder features. Defaults to
            None (off).
        pseudo_pixel_sampler (dict, optional): An mmseg-style pixel sampler
            (``sample(seg_logits, seg_label) -> per-pixel weights``) that the
            decode and auxiliary heads use for the pseudo-label losses only
            (the labeled loss keeps the heads' own sampler), e.g.
            ``dict(type='ClassBalancedPixelSampler', power=0.5)``.
            Defaults to None.
    """

    score_types = ('confidence', 'certainty')

    def __init__(self, loss_weights: Optional[Dict[str, float]] = None,
                 max_policy_pixels: int = 65536,
                 feature_perturbation: Optional[Dict[str, float]] = None,
                 pseudo_pixel_sampler: Optional[dict] = None) -> None:
        self.loss_weights = dict(loss_weights or {})
        self.pseudo_pixel_sampler = (
            TASK_UTILS.build(dict(pseudo_pixel_sampler, _scope_='ssl_dense'))
            if pseudo_pixel_sampler else None)
        self.max_policy_pixels = max_policy_pixels
        self.feature_perturbation = dict(feature_perturbation) if feature_perturbation else None
        if self.feature_perturbation is not None:
            unknown = set(self.feature_perturbation) - {'p', 'weight', 'at'}
            if unknown:
                raise KeyError(f'feature_perturbation takes p, weight and at, got '
                               f'{sorted(unknown)}')
            if self.feature_perturbation.get('at', 'neck') not in ('neck', 'backbone'):
                raise ValueError("feature_perturbation.at must be 'neck' or 'backbone', got "
                                 f"{self.feature_perturbation['at']!r}")

    @staticmethod
    def _final_head_attr(model: nn.Module, name: str, hint: str) -> int:
        """Attribute ``name`` of the decode head whose output is the
        prediction (the last one of a ``CascadeEncoderDecoder``'s list)."""
        head = getattr(model, 'decode_head', None)
        if isinstance(head, nn.ModuleList):
            head = head[-1]
        if head is None:
            raise AttributeError(f'{type(model).__name__} has no decode_head; the '
                                 'SegmentationAdapter serves mmseg EncoderDecoder segmentors')
        if not hasattr(head, name):
            raise AttributeError(f'{type(head).__name__} (decode head of {type(model).__name__}) '
                                 f'has no {name}; {hint}')
        return int(getattr(head, name))

    def num_classes(self, model: nn.Module) -> int:
        return self._final_head_attr(model, 'num_classes', 'set threshold.num_classes')

    @classmethod
    def ignore_index(cls, model: nn.Module) -> int:
        return cls._final_head_attr(model, 'ignore_index', 'unlabelled pixels need one')

    def supervised_loss(self, student, inputs, data_samples):
        return student.loss(inputs, data_samples)

    @torch.no_grad()
    def predict_probs(self, model: nn.Module, inputs: Tensor, data_samples: List) -> Tensor:
        """Class probabilities of ``model`` at the batch's padded input size,
        (N, C, H, W).

        The logits are resized once, straight to the padded size (mmseg's
        ``predict_by_feat`` would resize every image to the first image's
        size). A binary head (``out_channels=1``, sigmoid) gives the two
        classes ``[1 - p, p]``.
        """
        size = torch.Size(inputs.shape[-2:])
        logits = model.encode_decode(inputs, [dict(s.metainfo, img_shape=size)
                                              for s in data_samples])
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode='bilinear', align_corners=False)
        if logits.shape[1] == 1:
            foreground = logits.sigmoid()
            return torch.cat([1 - foreground, foreground], dim=1)
        return logits.softmax(dim=1)

    @torch.no_grad()
    def pseudo_labels(self, teacher, inputs, data_samples, threshold,
                      reviewers: Sequence[nn.Module] = ()) -> List[PixelData]:
        probs = self.predict_probs(teacher, inputs, data_samples)
        if reviewers:  # historical teachers: average the class probabilities
            for reviewer in reviewers:
                probs = probs + self.predict_probs(reviewer, inputs, data_samples)
            probs = probs / (1 + len(reviewers))
        scores, labels = probs.max(dim=1)
        if getattr(threshold, 'score_type', 'confidence') == 'certainty':
            entropy = -(probs * probs.clamp(min=1e-12).log()).sum(dim=1)
            scores = 1.0 - entropy / math.log(probs.shape[1])
        valid = torch.zeros_like(scores, dtype=torch.bool)
        for i, sample in enumerate(data_samples):
            h, w = sample.metainfo['img_shape'][:2]
            valid[i, :h, :w] = True
        threshold.update(*self._subsample(scores[valid], labels[valid]))
        pseudo = []
        for i in range(len(data_samples)):
            weights = threshold(scores[i].flatten(), labels[i].flatten()).view_as(scores[i])
            weights = weights * valid[i]
            pseudo.append(PixelData(labels=labels[i][None], scores=scores[i][None],
                                    weights=weights[None]))
        return pseudo

    @torch.no_grad()
    def labeled_scores(self, teacher, inputs, data_samples) -> Tuple[Tensor, Tensor]:
        """Teacher confidences of labeled pixels it classifies correctly."""
        probs = self.predict_probs(teacher, inputs, data_samples)
        scores, labels = probs.max(dim=1)
        keep_scores, keep_labels = [], []
        for i, sample in enumerate(data_samples):
            gt = sample.gt_sem_seg.data[0].to(labels.device)
            h, w = gt.shape
            correct = labels[i, :h, :w] == gt
            keep_scores.append(scores[i, :h, :w][correct])
            keep_labels.append(labels[i, :h, :w][correct])
        return self._subsample(torch.cat(keep_scores), torch.cat(keep_labels))

    def gt_classes(self, model: nn.Module, data_samples: List) -> Tensor:
        """Every labeled pixel's class (pixels at the decode head's
        ``ignore_index`` left out)."""
        ignore = self.ignore_index(model)
        labels = torch.cat([s.gt_sem_seg.data.flatten() for s in data_samples])
        return labels[labels != ignore].long()

    def _subsample(self, scores: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        """At most ``max_policy_pixels`` (scores, labels), a random subset."""
        if scores.numel() <= self.max_policy_pixels:
            return scores, labels
        pick = torch.randperm(scores.numel(), device=scores.device)[:self.max_policy_pixels]
        return scores[pick], labels[pick]

    def transfer(self, pseudo, source_samples, target_samples) -> List[PixelData]:
        moved = []
        for inst, src, dst in zip(pseudo, source_samples, target_samples):
            like = inst.scores
            matrix = homography_of(dst, like) @ torch.linalg.inv(homography_of(src, like))
            src_h, src_w = src.metainfo['img_shape'][:2]
            out_shape = tuple((dst.metainfo.get('pad_shape') or dst.metainfo['img_shape'])[:2])
            # Hard labels only: a pixel without weight 1 is "unknown" (-1).
            labels = torch.where(inst.weights[0] >= 1, inst.labels[0],
                                 torch.full_like(inst.labels[0], -1))
            # One mapping of target pixels to source pixels serves both maps.
            pixels = _source_pixels(matrix, out_shape, (src_h, src_w), tuple(labels.shape))
            labels, scores = _gather(labels, pixels, -1), _gather(inst.scores[0], pixels, 0)
            dst_h, dst_w = dst.metainfo['img_shape'][:2]
            labels[dst_h:, :] = -1
            labels[:, dst_w:] = -1
            kept = labels >= 0
            moved.append(PixelData(labels=labels[None], scores=(scores * kept)[None],
                                   weights=kept.to(scores.dtype)[None]))
        return moved

    def unsupervised_loss(self, student, inputs, data_samples, pseudo) -> Dict[str, Tensor]:
        if not any(bool((p.labels >= 0).any()) for p in pseudo):
            return dict(loss_pseudo=zero_like_graph(student))
        samples = self._with_labels(data_samples, pseudo, inputs.shape[-2:],
                                    self.ignore_index(student))
        with self._pseudo_sampler(student):
            losses = student.loss(inputs, samples)
        unknown = set(self.loss_weights) - set(losses)
        if unknown:
            raise KeyError(f'SegmentationAdapter.loss_weights names {sorted(unknown)}, but '
                           f'{type(student).__name__} returns the losses {sorted(losses)}')
        return {k: scale_loss(finite_or_zero(v, student, f'unsup {k}'),
                              self.loss_weights.get(k, 1.0))
                for k, v in losses.items() if not k.endswith('acc_seg')}

    def weak_view_loss(self, student, inputs, data_samples, pseudo) -> Dict[str, Tensor]:
        if self.feature_perturbation is None:
            return {}
        p = float(self.feature_perturbation.get('p', 0.5))
        weight = float(self.feature_perturbation.get('weight', 0.5))
        labels = [PixelData(labels=torch.where(inst.weights >= 1, inst.labels,
                                               torch.full_like(inst.labels, -1)))
                  for inst in pseudo]
        if not any(bool((lab.labels >= 0).any()) for lab in labels):
            return dict(loss_fp=zero_like_graph(student))
        samples = self._with_labels(data_samples, labels, inputs.shape[-2:],
                                    self.ignore_index(student))

        def drop(feats):
            return [F.dropout2d(f, p=p, training=True) for f in feats]

        if self.feature_perturbation.get('at', 'neck') == 'backbone':
            feats = drop(student.backbone(inputs))
            if getattr(student, 'with_neck', False):
                feats = student.neck(feats)
        else:
            feats = drop(student.extract_feat(inputs))
        # The segmentor's own decode-head step (a cascade runs all its heads);
        # keys like 'decode.loss_ce' are logged as 'fp_decode.loss_ce'.
        with self._pseudo_sampler(student):
            losses = student._decode_head_forward_train(feats, samples)
        return {f'fp_{k}': scale_loss(finite_or_zero(v, student, f'unsup fp_{k}'), weight)
                for k, v in losses.items() if 'loss' in k}

    @contextmanager
    def _pseudo_sampler(self, student: nn.Module) -> Iterator[None]:
        """Heads of ``student`` use ``pseudo_pixel_sampler`` inside the block."""
        if self.pseudo_pixel_sampler is None:
            yield
            return
        # An EncoderDecoder without an auxiliary head has no such attribute.
        heads = [getattr(student, name, None) for name in ('decode_head', 'auxiliary_head')]
        heads = [h for head in heads if head is not None
                 for h in (head if isinstance(head, nn.ModuleList) else [head])]
        saved = [getattr(h, 'sampler', None) for h in heads]
        try:
            for head in heads:
                head.sampler = self.pseudo_pixel_sampler
            yield
        finally:
            for head, sampler in zip(heads, saved):
                head.sampler = sampler

    @staticmethod
    def _with_labels(data_samples, pseudo, shape, ignore: int) -> list:
        """Copies of the samples whose ``gt_sem_seg`` is the pseudo-label map,
        covering the padded input exactly (-1 and padding -> ``ignore``)."""
        h, w = shape
        samples = []
        for sample, inst in zip(data_samples, pseudo):
            sample = sample.clone()
            # mmseg resizes logits to the label map's size: it must cover the
            # padded input exactly; padding is ignored.
            labels = torch.full((1, h, w), ignore, dtype=torch.long, device=inst.labels.device)
            src = inst.labels[:, :h, :w]
            labels[:, :src.shape[1], :src.shape[2]] = torch.where(src >= 0, src, ignore)
            sample.gt_sem_seg = PixelData(data=labels)
            samples.append(sample)
        return samples

    def pseudo_label_stats(self, pseudo, num_classes: int) -> Dict[str, Tensor]:
        count = torch.zeros(num_classes)
        total = torch.zeros(num_classes)
        for inst in pseudo:
            kept = inst.weights[0] >= 1
            labels = inst.labels[0][kept].cpu()
            count += torch.bincount(labels, minlength=num_classes).float()
            total.index_add_(0, labels, inst.scores[0][kept].float().cpu())
        return dict(count=count, mean_score=total / count.clamp(min=1))

    @torch.no_grad()
    def pseudo_label_quality(self, pseudo, data_samples, num_classes: int) -> Dict[str, Tensor]:
        """Pseudo-labelled pixels against hidden ground truth of the weak view."""
        out = {k: torch.zeros(num_classes) for k in ('num_pseudo', 'tp', 'num_gt', 'num_gt_found')}
        for inst, sample in zip(pseudo, data_samples):
            if 'gt_sem_seg' not in sample:
                raise KeyError(f'{sample.metainfo.get("img_path", "an unlabeled sample")} has '
                               'no hidden ground truth: with hidden_gt=True the unlabeled '
                               'pipeline needs LoadAnnotations and label maps')
            gt = sample.gt_sem_seg.data[0].to(inst.labels.device)
            h, w = gt.shape
            labels = inst.labels[0, :h, :w]
            kept = inst.weights[0, :h, :w] >= 1
            known = gt < num_classes
            correct = kept & known & (labels == gt)
            for key, values in (('num_pseudo', labels[kept & known]), ('tp', labels[correct]),
                                ('num_gt', gt[known]), ('num_gt_found', gt[correct])):
                out[key] += torch.bincount(values.flatten().cpu(), minlength=num_classes).float()
        return out


@TASK_UTILS.register_module()
class OracleSegmentationAdapter(SegmentationAdapter):
    """A diagnostic: the weak view's *ground truth* as pseudo labels.

    Everything else is the :class:`SegmentationAdapter`: the labels move to
    the strong view through the same homographies, batch augmentations and
    losses see them as they see pseudo labels. Training with it tells
    whether the unlabeled path can help at all: with perfect labels it
    should approach training on all labels; if it does not, the path (views,
    transfer, loss), not the teacher, is what holds a recipe back. Never a
    method for results: it reads the labels of the "unlabeled" images (the
    unlabeled pipeline must load them, e.g. ``LoadSegAnnotationsChecked``
    before ``MultiView``). Void pixels and padding stay unlabeled. The
    teacher is not run.
    """

    @torch.no_grad()
    def pseudo_labels(self, teacher, inputs, data_samples, threshold,
                      reviewers: Sequence[nn.Module] = ()) -> List[PixelData]:
        num_classes = self.num_classes(teacher)
        h_pad, w_pad = inputs.shape[-2:]
        pseudo = []
        for sample in data_samples:
            if 'gt_sem_seg' not in sample:
                raise KeyError(f'{sample.metainfo.get("img_path", "an unlabeled sample")} has no '
                               'label map: OracleSegmentationAdapter needs the unlabeled pipeline '
                               'to load them (LoadSegAnnotationsChecked before MultiView)')
            gt = sample.gt_sem_seg.data[0].to(inputs.device).long()
            labels = torch.full((h_pad, w_pad), -1, dtype=torch.long, device=inputs.device)
            h, w = min(gt.shape[0], h_pad), min(gt.shape[1], w_pad)
            labels[:h, :w] = torch.where(gt[:h, :w] < num_classes, gt[:h, :w], -1)
            known = (labels >= 0).float()
            pseudo.append(PixelData(labels=labels[None], scores=known[None],
                                    weights=known[None]))
        return pseudo


@TASK_UTILS.register_module()
class ClassBalancedPixelSampler:
    """Per-pixel loss weights that balance the classes of one batch's labels.

    Pseudo labels follow the teacher's bias: confident pixels are mostly the
    large classes (sky, road, building), so a plain mean over pixels lets
    those dominate the student's loss and thin classes fade further. Here a
    pixel of class ``c`` weighs ``(n_c / n_max) ** -power`` (``n_c``: pixels
    of class ``c`` in the batch), at most ``max_weight``; weights are then
    scaled so their mean over the labelled pixels is 1, which keeps the
    loss on the scale of the unweighted one. Ignored pixels weigh 0.

    Used through ``SegmentationAdapter(pseudo_pixel_sampler=...)`` with the
    mmseg pixel-sampler interface (``decode_head.sampler``).

    Args:
        power (float): 0 leaves the loss unweighted, 1 is inverse class
            frequency. Defaults to 0.5.
        max_weight (float): Cap on the weight of the rarest class relative to
            the most frequent one. Defaults to 10.
        ignore_index (int): Label of ignored pixels. Defaults to 255; pixels
            labelled ``ignore_index`` or negative weigh 0.
    """

    def __init__(self, power: float = 0.5, max_weight: float = 10.0,
                 ignore_index: int = 255) -> None:
        if power < 0 or max_weight < 1:
            raise ValueError(f'need power >= 0 and max_weight >= 1, got {power}, {max_weight}')
        self.power, self.max_weight, self.ignore_index = power, max_weight, ignore_index

    @torch.no_grad()
    def sample(self, seg_logits: Tensor, seg_label: Tensor) -> Tensor:
        """Weights of shape (N, H, W) for labels of shape (N, 1, H, W)."""
        labels = seg_label.squeeze(1).long()
        num_classes = seg_logits.shape[1]
        valid = (labels >= 0) & (labels < num_classes) & (labels != self.ignore_index)
        weights = torch.zeros(labels.shape, dtype=seg_logits.dtype, device=labels.device)
        if not valid.any():
            return weights
        counts = torch.bincount(labels[valid], minlength=num_classes).to(seg_logits.dtype)
        ratio = counts / counts.max()
        per_class = torch.where(counts > 0, ratio.clamp(min=1e-12).pow(-self.power),
                                torch.zeros_like(ratio)).clamp(max=self.max_weight)
        weights[valid] = per_class[labels[valid]]
        return weights * (valid.sum() / weights.sum())

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(power={self.power}, max_weight={self.max_weight}, '
                f'ignore_index={self.ignore_index})')


@MODELS.register_module()
class SegCutMix:
    """CutMix between the strong views of a batch, pseudo-label maps alike.

    With probability ``prob`` per image, a box covering ``area`` of the
    image (uniform in that range; aspect ratio log-uniform in ``ratio``) is
    copied, pixels and pseudo labels together, from another image of the
    batch (the next one, cyclically), as UniMatch mixes unlabeled images
    (p = 0.5, area 0.02-0.4).

    Called by ``TeacherStudent`` (``strong_batch_augments``) as
    ``inputs, pseudo = aug(inputs, pseudo)``: ``inputs`` (N, C, H, W) and
    per-image ``PixelData`` pseudo labels with ``labels``, ``scores`` and
    ``weights`` of shape (1, H', W') with H' <= H, W' <= W.

    Args:
        prob (float): Chance that an image gets a box. Defaults to 0.5.
        area (tuple[float, float]): Box area as a share of the image.
            Defaults to (0.02, 0.4).
        ratio (tuple[float, float]): Box aspect-ratio range.
            Defaults to (0.3, 1 / 0.3).
    """

    def __init__(self, prob: float = 0.5, area: Tuple[float, float] = (0.02, 0.4),
                 ratio: Tuple[float, float] = (0.3, 1 / 0.3)) -> None:
        if not 0.0 <= prob <= 1.0 or not 0.0 < area[0] <= area[1] <= 1.0:
            raise ValueError(f'need prob in [0, 1] and 0 < area[0] <= area[1] <= 1, got {prob}, '
                             f'{area}')
        self.prob, self.area, self.ratio = prob, tuple(area), tuple(ratio)

    def box(self, h: int, w: int) -> Tuple[int, int, int, int]:
        """A random (y1, x1, y2, x2) box inside an h x w image."""
        area = torch.empty(1).uniform_(*self.area).item() * h * w
        log_r = torch.empty(1).uniform_(math.log(self.ratio[0]), math.log(self.ratio[1])).item()
        bh = int(round(min(h, math.sqrt(area / math.exp(log_r)))))
        bw = int(round(min(w, math.sqrt(area * math.exp(log_r)))))
        y1 = int(torch.randint(0, h - bh + 1, (1, )).item())
        x1 = int(torch.randint(0, w - bw + 1, (1, )).item())
        return y1, x1, y1 + bh, x1 + bw

    def __call__(self, inputs: Tensor, pseudo: List[PixelData]) -> Tuple[Tensor, List]:
        n = inputs.shape[0]
        if n < 2:
            return inputs, pseudo
        source_inputs = inputs.clone()
        source = [_copy_maps(p) for p in pseudo]
        out_inputs, out = inputs.clone(), [_copy_maps(p) for p in pseudo]
        for i in range(n):
            if torch.rand(1).item() >= self.prob:
                continue
            j = (i + 1) % n
            # The box's area is a share of image i's map; the part of it that
            # the partner's (smaller) map does not cover stays image i's own.
            y1, x1, y2, x2 = self.box(*out[i].labels.shape[-2:])
            y2, x2 = min(y2, source[j].labels.shape[-2]), min(x2, source[j].labels.shape[-1])
            out_inputs[i, :, y1:y2, x1:x2] = source_inputs[j, :, y1:y2, x1:x2]
            for key in ('labels', 'scores', 'weights'):
                getattr(out[i], key)[:, y1:y2, x1:x2] = getattr(source[j], key)[:, y1:y2, x1:x2]
        return out_inputs, out

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob}, area={self.area}, ratio={self.ratio})'


def _copy_maps(pseudo: PixelData) -> PixelData:
    """A copy whose maps are new tensors (``PixelData.clone`` shares them)."""
    return PixelData(**{k: v.clone() for k, v in pseudo.items()})
