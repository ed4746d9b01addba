"""Top-down pose inference and drawing for the demos (mmpose estimators and
TeacherStudent wrappers of them): boxes from a detector or the whole frame."""
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from .segmentation import _task_model, build_task_model, task_scope

__all__ = ['PosePredictor', 'draw_poses', 'is_pose_config']


def is_pose_config(cfg: Config) -> bool:
    """Whether the config's (task) model is an mmpose estimator."""
    return task_scope(cfg) == 'mmpose'


def _codec(cfg: Config) -> dict:
    head = _task_model(cfg)['head']
    codec = head.get('decoder') or {}
    if 'input_size' not in codec:
        raise KeyError('the pose config has no model.head.decoder.input_size (the codec)')
    return codec


class PosePredictor:
    """Runs a top-down pose config + checkpoint on BGR images.

    Each person (or bee) box is cropped like the config's test pipeline
    (``TopdownAffine`` to the codec's input size) and the model predicts
    keypoints in image coordinates, with the config's flip test. Boxes come
    from a detector (``det_config`` + ``det_checkpoint``, boxes scoring at
    least ``det_score_thr``, optionally of ``det_classes`` only) or, without
    one, the whole image is one box (cropped without padding, like the
    whole-image boxes of the unlabelled images in training).

    Args:
        config (str): Pose config file.
        checkpoint (str): Pose checkpoint file.
        device (str): Device. Defaults to ``'cpu'``.
        det_config (str, optional): Detector config (mmdet). Defaults to None.
        det_checkpoint (str, optional): Detector checkpoint. Defaults to None.
        det_score_thr (float): Box score threshold. Defaults to 0.3.
        det_classes (Sequence[int], optional): Detector classes to keep.
            Defaults to None (all).
    """

    def __init__(self, config: str, checkpoint: str, device: str = 'cpu',
                 det_config: Optional[str] = None, det_checkpoint: Optional[str] = None,
                 det_score_thr: float = 0.3, det_classes: Optional[Sequence[int]] = None
                 ) -> None:
        from mmpose.datasets.datasets.utils import parse_pose_metainfo

        from ssl_dense.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        import mmpose.models  # noqa: F401
        self.cfg = Config.fromfile(config)
        self.model = build_task_model(self.cfg)
        load_checkpoint(self.model, checkpoint, map_location='cpu')
        dataset = self.cfg.test_dataloader.dataset
        metainfo = dict(dataset.get('metainfo') or {})
        if not metainfo:
            # The dataset class's own meta (e.g. mmpose's CocoDataset).
            from mmpose.registry import DATASETS
            kind = str(dataset.get('type', ''))
            cls = DATASETS.get(kind if '.' in kind else f'mmpose.{kind}')
            metainfo = dict(getattr(cls, 'METAINFO', None) or {})
            if not metainfo:
                raise KeyError(f'{config}: test_dataloader.dataset has no metainfo and its '
                               f'type {kind!r} no METAINFO: keypoint names and skeleton unknown')
        source = metainfo.get('from_file')
        if source and not osp.isabs(source) and not osp.isfile(source):
            # Config paths are relative to the repository root.
            root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
            if osp.isfile(osp.join(root, source)):
                metainfo['from_file'] = osp.join(root, source)
        self.meta = parse_pose_metainfo(metainfo)
        self.model.to(device).eval()
        self.device = device
        input_size = tuple(_codec(self.cfg)['input_size'])
        with DefaultScope.overwrite_default_scope('mmpose'):
            # Detector boxes get mmpose's usual 1.25 padding; the whole frame
            # none, as the unlabelled crops in training (whole-image boxes,
            # configs/_base_/semi/trs_bee-10pct.py), so an animal that fills
            # the frame is seen at the scale the model learnt.
            self.pipeline, self.whole_frame_pipeline = (Compose([
                dict(type='LoadImage'),
                dict(type='GetBBoxCenterScale', padding=padding),
                dict(type='TopdownAffine', input_size=input_size),
                dict(type='PackPoseInputs'),
            ]) for padding in (1.25, 1.0))
        self.detector = None
        if det_config:
            if not det_checkpoint:
                raise ValueError('det_config needs det_checkpoint')
            from mmdet.apis import DetInferencer
            self.detector = DetInferencer(model=det_config, weights=det_checkpoint,
                                          device=device, scope='mmdet', show_progress=False)
        self.det_score_thr, self.det_classes = det_score_thr, det_classes

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy boxes to estimate poses in (the whole image without a detector)."""
        h, w = image.shape[:2]
        if self.detector is None:
            return np.array([[0, 0, w - 1, h - 1]], dtype=np.float32)
        pred = self.detector(image, return_datasamples=True)['predictions'][0].pred_instances
        keep = pred.scores >= self.det_score_thr
        if self.det_classes is not None:
            keep &= torch.isin(pred.labels, torch.as_tensor(list(self.det_classes),
                                                            device=pred.labels.device))
        return pred.bboxes[keep].cpu().numpy().reshape(-1, 4)

    @torch.no_grad()
    def __call__(self, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> List[dict]:
        """Poses in one BGR image.

        Args:
            image (np.ndarray): BGR image (H, W, 3).
            boxes (np.ndarray, optional): (N, 4) xyxy boxes to use instead of
                the detector's (or the whole image), e.g. annotated ones;
                cropped with the test pipeline's 1.25 padding, like detector
                boxes. Defaults to None.

        Returns:
            list[dict]: One dict per box: ``bbox`` (4,), ``keypoints`` (K, 2)
            in image pixels and ``scores`` (K,).
        """
        padded = boxes is not None or self.detector is not None
        if boxes is None:
            boxes = self.boxes(image)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return []
        pipeline = self.pipeline if padded else self.whole_frame_pipeline
        items = []
        for box in boxes:
            items.append(pipeline(dict(
                img=image, bbox=box[None].astype(np.float32), bbox_score=np.ones(1, np.float32),
                flip_indices=self.meta['flip_indices'], dataset_name=self.meta.get(
                    'dataset_name'))))
        results = self.model.test_step(pseudo_collate(items))
        out = []
        for box, result in zip(boxes, results):
            inst = result.pred_instances
            out.append(dict(bbox=box, keypoints=np.asarray(inst.keypoints[0]),
                            scores=np.asarray(inst.keypoint_scores[0])))
        return out


def draw_poses(image: np.ndarray, poses: List[dict], meta: dict, kpt_thr: float = 0.3,
               radius: int = 3, thickness: int = 2, draw_boxes: bool = True) -> np.ndarray:
    """Skeletons and keypoints (score >= ``kpt_thr``) on a BGR image, in the
    dataset meta's colours (RGB there).

    Args:
        image (np.ndarray): BGR image (H, W, 3).
        poses (list[dict]): :class:`PosePredictor` output.
        meta (dict): Parsed pose dataset meta (``skeleton_links``,
            ``skeleton_link_colors``, ``keypoint_colors``).
        kpt_thr (float): Keypoint score threshold. Defaults to 0.3.
        radius (int): Keypoint radius. Defaults to 3.
        thickness (int): Line width. Defaults to 2.
        draw_boxes (bool): Draw the boxes too. Defaults to True.

    Returns:
        np.ndarray: The drawn BGR image.
    """
    out = image.copy()
    link_colors = np.asarray(meta.get('skeleton_link_colors', []), dtype=np.int64)
    kpt_colors = np.asarray(meta.get('keypoint_colors', []), dtype=np.int64)
    for pose in poses:
        kps, scores = pose['keypoints'], pose['scores']
        if draw_boxes:
            x1, y1, x2, y2 = (int(round(v)) for v in pose['bbox'])
            cv2.rectangle(out, (x1, y1), (x2, y2), (255, 255, 255), 1)
        for i, (a, b) in enumerate(meta.get('skeleton_links', [])):
            if scores[a] >= kpt_thr and scores[b] >= kpt_thr:
                color = tuple(int(v) for v in link_colors[i][::-1]) if len(link_colors) else (
                    0, 255, 0)
                cv2.line(out, tuple(int(round(v)) for v in kps[a]),
                         tuple(int(round(v)) for v in kps[b]), color, thickness, cv2.LINE_AA)
        for k, (xy, s) in enumerate(zip(kps, scores)):
            if s >= kpt_thr:
                color = tuple(int(v) for v in kpt_colors[k][::-1]) if len(kpt_colors) else (
                    0, 0, 255)
                cv2.circle(out, tuple(int(round(v)) for v in xy), radius, color, -1, cv2.LINE_AA)
    return out
