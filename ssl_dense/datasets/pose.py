"""Pose data: checked COCO keypoint datasets (labeled and unlabeled) and the
top-down crop that records where it maps the image."""
import logging
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log
from mmpose.datasets import CocoDataset
from mmpose.datasets.transforms import TopdownAffine
from mmpose.structures.bbox import get_udp_warp_matrix, get_warp_matrix

from ssl_dense.registry import DATASETS, TRANSFORMS

__all__ = ['TopdownAffineWithHomography', 'PoseCocoDataset', 'flip_matrix']


@DATASETS.register_module()
class PoseCocoDataset(CocoDataset):
    """mmpose's COCO keypoint dataset with checks, and an unlabeled mode.

    Labeled (default): every annotation must carry as many keypoints as the
    dataset meta (``metainfo``) names, and every annotated keypoint must lie
    inside its image; either fault stops loading with the image and
    annotation named. Bees or persons without any visible keypoint are
    skipped (they give no supervised signal; their images can still serve as
    unlabeled ones) and counted in the log.

    Unlabeled (``unlabeled=True``), ``unlabeled_boxes='image'`` (default):
    one top-down instance per image whose box is the whole image (no
    annotation is needed, e.g. the unlabeled json of
    ``tools/split_dataset.py``; one animal per image, as the bee set). When
    the json keeps annotations (``--keep-unlabeled-annotations``), the first
    one's keypoints ride along as hidden ground truth for pseudo-label quality
    logs only; neither their box nor their keypoints reach a loss.
    ``unlabeled_boxes='annotation'``: one instance per annotated box that is
    not a crowd (several people per image, as COCO; the boxes of a person
    detector written to the json serve the same way); the box sets the crop,
    the annotation's keypoints are hidden truth only. Images without a box
    give no instance.

    Args:
        unlabeled (bool): See above. Defaults to False.
        unlabeled_boxes (str): ``'image'`` or ``'annotation'``, see above.
            Defaults to ``'image'``.
        **kwargs: Arguments of mmpose's ``CocoDataset`` (``ann_file``,
            ``data_root``, ``data_prefix``, ``metainfo``, ``pipeline``, ...).
    """

    def __init__(self, *args, unlabeled: bool = False, unlabeled_boxes: str = 'image',
                 **kwargs) -> None:
        if unlabeled_boxes not in ('image', 'annotation'):
            raise ValueError(f"unlabeled_boxes must be 'image' or 'annotation', got "
                             f'{unlabeled_boxes!r}')
        self.unlabeled, self.unlabeled_boxes = unlabeled, unlabeled_boxes
        self._skipped_empty = 0
        super().__init__(*args, **kwargs)

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        instances, images = super()._load_annotations()
        if self.unlabeled and self.unlabeled_boxes == 'annotation':
            instances = [dict(inst, num_keypoints=0) for inst in instances
                         if not inst.get('iscrowd')]
            # A box under one pixel wide or high (e.g. clipped to the image
            # border) gives a crop of no size, whose transform cannot be inverted.
            sizes = [np.asarray(inst['bbox'], np.float32).reshape(-1, 4)[0] for inst in instances]
            tiny = [inst for inst, b in zip(instances, sizes) if min(b[2] - b[0], b[3] - b[1]) < 1]
            if tiny:
                instances = [inst for inst, b in zip(instances, sizes)
                             if min(b[2] - b[0], b[3] - b[1]) >= 1]
                print_log(f'{self.ann_file}: skipped {len(tiny)} unlabeled boxes under one pixel '
                          f'wide or high (first: {osp.basename(tiny[0]["img_path"])}, annotation '
                          f'{tiny[0].get("id")})', logger='current', level=logging.WARNING)
            if not instances:
                raise ValueError(f"{self.ann_file}: unlabeled_boxes='annotation' but no image "
                                 'has a (non-crowd) box; keep the annotations of the unlabeled '
                                 'part (tools/split_dataset.py --keep-unlabeled-annotations) or '
                                 "write detector boxes, or use unlabeled_boxes='image'")
        elif self.unlabeled:
            instances = [self._whole_image(img) for img in images]
        elif self._skipped_empty:
            print_log(f'{self.ann_file}: skipped {self._skipped_empty} annotations without '
                      'visible keypoints (no supervised signal)', logger='current',
                      level=logging.INFO)
        return instances, images

    def _get_topdown_data_infos(self, instance_list: List[dict]) -> List[dict]:
        # mmpose drops instances without keypoints; unlabeled ones have none.
        if self.unlabeled:
            return instance_list
        return super()._get_topdown_data_infos(instance_list)

    def _whole_image(self, img: dict) -> dict:
        """A top-down instance covering image ``img`` (hidden truth if any)."""
        num = self.metainfo['num_keypoints']
        w, h = img['width'], img['height']
        keypoints = np.zeros((1, num, 2), dtype=np.float32)
        visible = np.zeros((1, num), dtype=np.float32)
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=img['img_id']))
        if anns and 'keypoints' in anns[0]:
            kps = self._keypoints_of(anns[0], img)
            keypoints, visible = kps[..., :2], np.minimum(1, kps[..., 2])
        return dict(img_id=img['img_id'], img_path=img['img_path'],
                    bbox=np.array([[0, 0, w - 1, h - 1]], dtype=np.float32),
                    bbox_score=np.ones(1, dtype=np.float32), num_keypoints=0,
                    keypoints=keypoints, keypoints_visible=visible,
                    area=np.array(w * h, dtype=np.float32), iscrowd=0, segmentation=None,
                    id=img['img_id'], category_id=np.array(1))

    def _keypoints_of(self, ann: dict, img: dict) -> np.ndarray:
        """(1, K, 3) keypoints of ``ann``, checked against the meta and the image."""
        num = self.metainfo['num_keypoints']
        where = f'{osp.basename(img["img_path"])} (annotation {ann.get("id")})'
        if len(ann['keypoints']) != 3 * num:
            raise ValueError(f'{where} has {len(ann["keypoints"]) / 3:g} keypoints; the dataset '
                             f'meta ({self.metainfo.get("dataset_name")}) has {num}')
        kps = np.asarray(ann['keypoints'], dtype=np.float32).reshape(1, num, 3)
        w, h = img['width'], img['height']
        for k in np.flatnonzero(kps[0, :, 2] > 0):
            x, y = kps[0, k, :2]
            if not (0 <= x < w and 0 <= y < h):
                name = self.metainfo['keypoint_id2name'].get(k, k)
                raise ValueError(f'{where}: keypoint {k} ({name}) at ({x:g}, {y:g}) lies outside '
                                 f'the {w}x{h} image')
        return kps

    def parse_data_info(self, raw_data_info: dict) -> Optional[dict]:
        ann, img = raw_data_info['raw_ann_info'], raw_data_info['raw_img_info']
        if self.unlabeled and 'keypoints' not in ann and 'bbox' in ann:
            # A box without keypoints (e.g. a detector's): nothing hidden rides along.
            ann = dict(ann, keypoints=[0.0] * (3 * self.metainfo['num_keypoints']),
                       num_keypoints=0)
            raw_data_info = dict(raw_data_info, raw_ann_info=ann)
        if 'keypoints' in ann:
            kps = self._keypoints_of(ann, img)
            if not self.unlabeled and not (kps[0, :, 2] > 0).any():
                self._skipped_empty += 1
                return None
        return super().parse_data_info(raw_data_info)


def flip_matrix(direction: Optional[str], width: int, height: int) -> np.ndarray:
    """3x3 matrix of mmpose's image flip (``x -> w - 1 - x`` for horizontal)."""
    m = np.eye(3)
    if direction in ('horizontal', 'diagonal'):
        m[0, 0], m[0, 2] = -1.0, width - 1.0
    if direction in ('vertical', 'diagonal'):
        m[1, 1], m[1, 2] = -1.0, height - 1.0
    return m


@TRANSFORMS.register_module()
class TopdownAffineWithHomography(TopdownAffine):
    """mmpose's ``TopdownAffine`` that also records ``homography_matrix``.

    The matrix (3x3) maps coordinates of the loaded image to the model input:
    the bbox crop's affine warp, after mmpose's ``RandomFlip`` when the view
    was flipped, after any ``homography_matrix`` already recorded (e.g. the
    identity that :class:`~ssl_dense.datasets.MultiView` starts each view
    with). A flipped view also swaps left and right keypoints: keypoint ``k``
    of the view is keypoint ``flip_indices[k]`` of the image, so the pose
    adapter reads ``flip`` and ``flip_indices`` too. Keep
    ``'homography_matrix'`` in the ``meta_keys`` of ``PackPoseInputs``.

    Args:
        input_size (tuple[int, int]): Model input (w, h).
        use_udp (bool): Unbiased data processing warp. Defaults to False.
    """

    def transform(self, results: Dict) -> Optional[dict]:
        height, width = results['img_shape'][:2]  # before the warp: the loaded image
        results = super().transform(results)
        w, h = self.input_size
        center, scale = results['bbox_center'][0], results['bbox_scale'][0]
        rot = results['bbox_rotation'][0] if 'bbox_rotation' in results else 0.0
        make = get_udp_warp_matrix if self.use_udp else get_warp_matrix
        warp = np.vstack([make(center, scale, rot, output_size=(w, h)), [0.0, 0.0, 1.0]])
        flip = flip_matrix(results.get('flip_direction') if results.get('flip') else None,
                           width, height)
        previous = np.asarray(results.get('homography_matrix', np.eye(3)), dtype=np.float64)
        results['homography_matrix'] = (warp @ flip @ previous).astype(np.float32)
        return results
