"""Detection adapter: pseudo boxes for any mmdet detector (one- or two-stage)."""
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmengine.structures import InstanceData
from torch import Tensor

from ssl_dense.models.semi.adapter import (BaseTaskAdapter, finite_or_zero, homography_of,
                                           scale_loss, zero_like_graph)
from ssl_dense.registry import TASK_UTILS

__all__ = ['DetectionAdapter']


@TASK_UTILS.register_module()
class DetectionAdapter(BaseTaskAdapter):
    """Teacher-student glue for mmdet detectors.

    * Pseudo labels are the teacher's boxes on the weak view (after its own
      ``test_cfg``: score threshold, NMS), weighted by the threshold policy.
      With reviewers (historical teachers), their boxes are pooled with the
      teacher's and merged by class-wise NMS (IoU 0.5) first.
      Boxes with weight 1 become ground truth of the strong view. Boxes with
      a weight between 0 and 1 (the dual threshold's uncertain band) become
      ``ignored_instances``: assigners with ``ignore_iof_thr > 0`` neither
      reward nor punish predictions there (mmdet's assigners ignore such an
      anchor even when it matches a certain box, so band boxes that overlap
      a certain box, of any class, with IoU >= ``band_overlap_iou`` are
      dropped first). A detector without such an assigner (FCOS, or mmdet's
      default ``ignore_iof_thr=-1``) treats them as background: a warning
      says so once. Per-box soft loss weights are not possible generically,
      since mmdet heads take no per-box weights.
    * Boxes move from the weak to the strong view with
      ``H_strong @ inverse(H_weak)`` of the recorded homography matrices,
      are clipped to the strong view and dropped when smaller than
      ``min_size`` pixels.
    * Images without a certain (weight 1) pseudo box are left out of the
      unsupervised loss, and without any such image the loss is an exact
      zero (connected to the student's graph): with no ground truth, mmdet
      assigners would mark every anchor background and teach the student
      that the image is empty.

    Args:
        min_size (float): Minimum width and height of a transferred box in
            the strong view, in pixels. Defaults to 2.
        match_iou (float): IoU with a ground-truth box of the same class at
            which a teacher box on a labeled image counts as correct (for
            policies that learn from labeled data). Defaults to 0.5.
        loss_weights (dict[str, float], optional): Weights of the student's
            loss terms on pseudo boxes, by the detector's loss name. E.g.
            classification only, as Unbiased Teacher trains on pseudo boxes
            (teacher boxes are good enough to say *what* is there, not
            precisely *where*): ``dict(loss_bbox=0.0)`` for RetinaNet,
            ``dict(loss_bbox=0.0, loss_centerness=0.0)`` for FCOS,
            ``dict(loss_bbox=0.0, loss_rpn_bbox=0.0)`` for Faster R-CNN.
            Unlisted terms keep weight 1. Defaults to None.
        band_overlap_iou (float): Band (uncertain) boxes overlapping a
            certain box with at least this IoU, whatever their classes, are
            dropped instead of ignored: the object is already labelled, and
            the ignored region would take the certain box's best anchors.
            Defaults to 0.5.
        expected_count_norm (Sequence[str]): Loss terms of the student on
            pseudo boxes to normalise by the *expected* number of objects
            instead of the number of pseudo boxes found. Dense one-stage heads
            (RetinaNet, FCOS) divide the classification loss, background
            anchors included, by the number of positive anchors. When the
            teacher finds few objects, that divisor is small and every
            unlabeled anchor is pushed towards background hard, which makes
            the teacher find even fewer (a collapse we measured on BCCD).
            Listed terms are multiplied by ``min(1, n_pseudo / n_expected)``,
            where ``n_expected`` is the running mean of ground-truth boxes per
            labeled image times the number of unlabeled images in the loss.
            E.g. ``('loss_cls', )``. Defaults to () (plain mmdet
            normalisation).
        count_momentum (float): Keep rate of the running mean of boxes per
            labeled image. Defaults to 0.9.
    """

    def __init__(self, min_size: float = 2.0, match_iou: float = 0.5,
                 loss_weights: Optional[Dict[str, float]] = None,
                 expected_count_norm: Sequence[str] = (),
                 count_momentum: float = 0.9, band_overlap_iou: float = 0.5) -> None:
        self.min_size = min_size
        self.band_overlap_iou = band_overlap_iou
        self._warned_no_ignore = False
        self.match_iou = match_iou
        self.loss_weights = dict(loss_weights or {})
        self.expected_count_norm = tuple(expected_count_norm)
        if not 0 <= count_momentum < 1:
            raise ValueError(f'count_momentum must be in [0, 1), got {count_momentum!r}')
        self.count_momentum = count_momentum
        # Running mean of ground-truth boxes per labeled image (None until the
        # first labeled batch).
        self.boxes_per_image: Optional[float] = None

    def state_dict(self) -> Dict[str, float]:
        """The running mean of boxes per labeled image, when
        ``expected_count_norm`` uses it (checkpoints stay as they were
        otherwise)."""
        if self.expected_count_norm and self.boxes_per_image is not None:
            return dict(boxes_per_image=self.boxes_per_image)
        return {}

    def load_state_dict(self, state: Dict[str, float]) -> None:
        if 'boxes_per_image' in state:
            self.boxes_per_image = float(state['boxes_per_image'])

    def num_classes(self, model: nn.Module) -> int:
        for head in ('bbox_head', 'roi_head'):
            module = getattr(model, head, None)
            if module is None:
                continue
            module = getattr(module, 'bbox_head', module)  # two-stage: roi_head.bbox_head
            if hasattr(module, 'num_classes'):
                return int(module.num_classes)
        raise AttributeError(f'{type(model).__name__} has no bbox_head.num_classes or '
                             'roi_head.bbox_head.num_classes; set threshold.num_classes')

    def supervised_loss(self, student, inputs, data_samples):
        if data_samples:
            count = sum(len(s.gt_instances) for s in data_samples) / len(data_samples)
            self.boxes_per_image = count if self.boxes_per_image is None else (
                self.count_momentum * self.boxes_per_image + (1 - self.count_momentum) * count)
        return student.loss(inputs, data_samples)

    @torch.no_grad()
    def pseudo_labels(self, teacher, inputs, data_samples, threshold,
                      reviewers=()) -> List[InstanceData]:
        preds = self._predict(teacher, inputs, data_samples)
        if reviewers:
            preds = self._ensemble([preds] + [self._predict(r, inputs, data_samples)
                                              for r in reviewers])
        scores = torch.cat([p.scores for p in preds]) if preds else torch.zeros(0)
        labels = torch.cat([p.labels for p in preds]) if preds else torch.zeros(0).long()
        threshold.update(scores, labels)
        pseudo = []
        for pred in preds:
            weights = threshold(pred.scores, pred.labels)
            keep = weights > 0
            pseudo.append(InstanceData(bboxes=pred.bboxes[keep], labels=pred.labels[keep],
                                       scores=pred.scores[keep], weights=weights[keep]))
        return pseudo

    @staticmethod
    def _predict(model, inputs, data_samples) -> List[InstanceData]:
        results = model.predict(inputs, [_predict_copy(s) for s in data_samples], rescale=False)
        return [r.pred_instances for r in results]

    def _ensemble(self, per_model: List[List[InstanceData]]) -> List[InstanceData]:
        """Merge the boxes of several models per image with class-wise NMS."""
        from mmcv.ops import batched_nms
        merged = []
        for preds in zip(*per_model):
            boxes = torch.cat([p.bboxes for p in preds])
            scores = torch.cat([p.scores for p in preds])
            labels = torch.cat([p.labels for p in preds])
            if not len(boxes):
                merged.append(preds[0])
                continue
            _, keep = batched_nms(boxes, scores, labels, dict(type='nms', iou_threshold=0.5))
            merged.append(InstanceData(bboxes=boxes[keep], scores=scores[keep],
                                       labels=labels[keep]))
        return merged

    @torch.no_grad()
    def labeled_scores(self, teacher, inputs, data_samples) -> Tuple[Tensor, Tensor]:
        from mmdet.structures.bbox import bbox_overlaps
        scores, labels = [], []
        for pred, sample in zip(self._predict(teacher, inputs, data_samples), data_samples):
            gt = sample.gt_instances
            if not len(pred) or not len(gt):
                continue
            gt_boxes = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else gt.bboxes
            iou = bbox_overlaps(pred.bboxes, gt_boxes.to(pred.bboxes))
            iou[pred.labels[:, None] != gt.labels[None, :].to(pred.labels)] = 0
            matched = iou.max(dim=1).values >= self.match_iou
            scores.append(pred.scores[matched])
            labels.append(pred.labels[matched])
        if not scores:
            return torch.zeros(0), torch.zeros(0, dtype=torch.long)
        return torch.cat(scores), torch.cat(labels)

    def transfer(self, pseudo, source_samples, target_samples) -> List[InstanceData]:
        from mmdet.structures.bbox import bbox_project
        moved = []
        for inst, src, dst in zip(pseudo, source_samples, target_samples):
            h_src = homography_of(src, inst.bboxes)
            h_dst = homography_of(dst, inst.bboxes)
            bboxes = bbox_project(inst.bboxes, h_dst @ torch.linalg.inv(h_src),
                                  dst.metainfo['img_shape'])
            wh = bboxes[:, 2:] - bboxes[:, :2]
            keep = (wh >= self.min_size).all(dim=1)
            moved.append(InstanceData(bboxes=bboxes[keep], labels=inst.labels[keep],
                                      scores=inst.scores[keep], weights=inst.weights[keep]))
        return moved

    def unsupervised_loss(self, student, inputs, data_samples, pseudo) -> Dict[str, Tensor]:
        # Images without any certain pseudo box are left out: with no ground
        # truth, mmdet assigners mark every anchor as background (ignored
        # regions included), which teaches the student that the image is
        # empty. Without any such image the loss is an exact zero.
        keep = [i for i, inst in enumerate(pseudo) if bool((inst.weights >= 1).any())]
        silent = not keep
        if silent:
            if get_world_size() == 1:
                return dict(loss_pseudo=zero_like_graph(student))
            # Under DDP the other ranks may run the student's loss, and heads
            # such as FCOS, ATSS and GFL all-reduce inside it: run it too (on
            # one image, without boxes) so the collectives stay in step, and
            # weight it 0.
            keep = [0]
        samples = []
        for i in keep:
            sample, inst = data_samples[i].clone(), pseudo[i]
            certain = inst.weights >= 1
            band = self._band_without_certain_overlap(inst.bboxes, certain)
            sample.gt_instances = InstanceData(bboxes=inst.bboxes[certain],
                                               labels=inst.labels[certain])
            sample.ignored_instances = InstanceData(bboxes=inst.bboxes[band],
                                                    labels=inst.labels[band])
            samples.append(sample)
        if any(len(s.ignored_instances) for s in samples):
            self._warn_if_ignored_regions_unused(student)
        losses = student.loss(inputs[keep] if len(keep) < len(pseudo) else inputs, samples)
        for option in ('loss_weights', 'expected_count_norm'):
            unknown = set(getattr(self, option)) - set(losses)
            if unknown:
                raise KeyError(f'DetectionAdapter.{option} names {sorted(unknown)}, but '
                               f'{type(student).__name__} returns the losses {sorted(losses)}')
        weights = dict(self.loss_weights)
        if silent:
            weights = {key: 0.0 for key in losses}
        elif self.expected_count_norm and self.boxes_per_image:
            found = sum(len(s.gt_instances) for s in samples)
            ratio = min(1.0, found / (self.boxes_per_image * len(samples)))
            for key in self.expected_count_norm:
                weights[key] = weights.get(key, 1.0) * ratio
        return {k: scale_loss(finite_or_zero(v, student, f'unsup {k}'), weights.get(k, 1.0))
                for k, v in losses.items()}

    def _band_without_certain_overlap(self, bboxes: Tensor, certain: Tensor) -> Tensor:
        """Mask of the band boxes that overlap no certain box by
        ``band_overlap_iou`` or more."""
        from mmdet.structures.bbox import bbox_overlaps
        band = ~certain
        if band.any() and certain.any():
            iou = bbox_overlaps(bboxes[band], bboxes[certain])
            band[band.clone()] = iou.max(dim=1).values < self.band_overlap_iou
        return band

    def _warn_if_ignored_regions_unused(self, student: nn.Module) -> None:
        """Warn once when no assigner of ``student`` reads ignored regions."""
        if self._warned_no_ignore:
            return
        self._warned_no_ignore = True
        if not ignores_regions(student):
            print_log(f'DetectionAdapter: band pseudo boxes are passed as ignored regions, but '
                      f'{type(student).__name__} has no assigner that ignores them (none with '
                      'ignore_iof_thr > 0), so they count as background. Set '
                      'ignore_iof_thr=0.5 in its assigners (train_cfg), or use a policy '
                      'without a band.', logger='current', level=logging.WARNING)

    @torch.no_grad()
    def pseudo_label_quality(self, pseudo, data_samples, num_classes: int) -> Dict[str, Tensor]:
        """Certain pseudo boxes (weight 1) against hidden ground truth of the
        weak view, matched one to one as in detection metrics: in order of
        score, a pseudo box is correct when it overlaps a ground-truth box of
        its class not yet matched with IoU >= ``match_iou`` (a duplicate of a
        found box is a false positive); ground-truth boxes so matched are
        found."""
        from mmdet.structures.bbox import bbox_overlaps
        out = {k: torch.zeros(num_classes) for k in ('num_pseudo', 'tp', 'num_gt', 'num_gt_found')}
        for inst, sample in zip(pseudo, data_samples):
            gt = sample.get('gt_instances')
            if gt is None or 'labels' not in gt:
                raise KeyError(f'{sample.metainfo.get("img_path", "an unlabeled sample")} has no '
                               'hidden ground truth: with hidden_gt=True the unlabeled pipeline '
                               'needs LoadAnnotations and an ann_file with annotations '
                               '(tools/split_dataset.py --keep-unlabeled-annotations)')
            certain = inst.weights >= 1
            boxes, labels = inst.bboxes[certain], inst.labels[certain]
            gt_boxes = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else gt.bboxes
            gt_boxes, gt_labels = gt_boxes.to(boxes), gt.labels.to(labels)
            iou = bbox_overlaps(boxes, gt_boxes)
            iou[labels[:, None] != gt_labels[None, :]] = 0
            correct, found = _match_one_to_one(iou, inst.scores[certain], self.match_iou)
            for key, value in (('num_pseudo', labels), ('tp', labels[correct]),
                               ('num_gt', gt_labels), ('num_gt_found', gt_labels[found])):
                out[key] += torch.bincount(value.cpu(), minlength=num_classes).float()
        return out

    def pseudo_label_stats(self, pseudo, num_classes: int) -> Dict[str, Tensor]:
        """Count and mean score of the certain (weight 1) pseudo boxes per
        class; band boxes are not pseudo labels."""
        count = torch.zeros(num_classes)
        total = torch.zeros(num_classes)
        for inst in pseudo:
            certain = inst.weights >= 1
            labels = inst.labels[certain].cpu()
            count += torch.bincount(labels, minlength=num_classes).float()
            total.index_add_(0, labels, inst.scores[certain].detach().float().cpu())
        return dict(count=count, mean_score=total / count.clamp(min=1))


def ignores_regions(detector: nn.Module) -> bool:
    """Whether any assigner of ``detector`` ignores anchors or proposals on
    ``ignored_instances`` (``ignore_iof_thr > 0``; FCOS has no assigner)."""
    assigners = [a for module in detector.modules() for name in ('assigner', 'bbox_assigner')
                 if (a := getattr(module, name, None)) is not None]
    return any(getattr(a, 'ignore_iof_thr', -1) > 0 for a in assigners)


def _match_one_to_one(iou: Tensor, scores: Tensor, min_iou: float) -> Tuple[Tensor, Tensor]:
    """Greedy matching, highest score first, of predictions (rows of ``iou``)
    to ground truth (columns): each takes the unmatched ground-truth box it
    overlaps most, if by ``min_iou`` or more. Returns the masks of matched
    predictions and of matched ground truth."""
    correct = torch.zeros(iou.shape[0], dtype=torch.bool, device=iou.device)
    found = torch.zeros(iou.shape[1], dtype=torch.bool, device=iou.device)
    for i in scores.argsort(descending=True).tolist():
        if not iou.shape[1]:
            break
        overlap = iou[i].masked_fill(found, -1.0)
        best = int(overlap.argmax())
        if overlap[best] >= min_iou:
            correct[i] = found[best] = True
    return correct, found


def _predict_copy(sample):
    """A copy for the teacher without ground truth (it predicts, never learns)."""
    sample = sample.clone()
    for key in ('gt_instances', 'ignored_instances', 'pred_instances'):
        if key in sample:
            delattr(sample, key)
    return sample
