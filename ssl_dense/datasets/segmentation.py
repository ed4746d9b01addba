"""Segmentation data: CamVid, and label maps checked as they are loaded."""
import logging
import os.path as osp
from typing import Optional

import numpy as np
from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset
from mmseg.datasets.transforms import LoadAnnotations

from ssl_dense.registry import DATASETS, TRANSFORMS

__all__ = ['CamVidDataset', 'LoadSegAnnotationsChecked']


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid road scenes, SegNet version (11 classes; value 11 is void).

    Images ``<img_path>/<name>.jpg`` (or ``.png`` with ``img_suffix``), label
    maps ``<seg_map_path>/<name>.png`` with values 0-10 and 11 for void.
    Void keeps the value 11: set the decode head's and the metric's
    ``ignore_index`` to 11 (the configs in ``configs/_base_/datasets``
    do). ``ann_file`` may list the image names of a split (one per line, as
    written by ``tools/split_dataset.py``); without it every image of the
    folder is used.

    An empty folder or split is an error that names it, and so are images
    that the split lists but the folder lacks (at start-up, not when the
    sampler first reaches them).
    """

    METAINFO = dict(
        classes=('Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence',
                 'Car', 'Pedestrian', 'Bicyclist'),
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222],
                 [128, 128, 0], [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
                 [0, 128, 192]])
    VOID = 11

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, **kwargs)

    def load_data_list(self):
        data_list = super().load_data_list()
        if not data_list:
            where = self.ann_file or self.data_prefix.get('img_path')
            raise ValueError(f'{type(self).__name__}: no image with suffix '
                             f'{self.img_suffix!r} in {where}')
        folder = self.data_prefix.get('img_path', '')
        if self.ann_file and '://' not in folder:
            missing = [d['img_path'] for d in data_list if not osp.isfile(d['img_path'])]
            if missing:
                raise FileNotFoundError(
                    f'{type(self).__name__}: {len(missing)} of the {len(data_list)} images '
                    f'listed in {self.ann_file} are not in {folder}, e.g. '
                    + ', '.join(missing[:3]))
        return data_list


@TRANSFORMS.register_module()
class LoadSegAnnotationsChecked(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that checks each label map as it loads.

    A label map with more than one channel, whose size differs from its image
    file's, or that holds a value that is neither a class index
    (``0 .. num_classes - 1``) nor ``ignore_index``, raises a ``ValueError``
    naming the file and the values, instead of training silently on wrong
    labels; a missing or undecodable file raises an ``OSError`` naming it.
    With ``skip_bad=True`` (for training pipelines) such a sample is logged
    once as a warning and skipped instead (the dataset draws another), so one
    bad label map does not stop a long run.

    Args:
        num_classes (int): Number of classes.
        ignore_index (int): The one extra allowed value (void).
            Defaults to 255.
        skip_bad (bool): Skip samples whose label map is bad instead of
            failing. Defaults to False.
        **kwargs: Passed to mmseg's ``LoadAnnotations``.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, skip_bad: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.skip_bad = skip_bad
        self._warned: set = set()

    def transform(self, results: dict) -> Optional[dict]:
        try:
            return super().transform(results)
        except (OSError, ValueError) as err:
            if not self.skip_bad:
                raise
            path = results.get('seg_map_path')
            if path not in self._warned:
                self._warned.add(path)
                print_log(f'{err}; skipped (skip_bad=True)', logger='current',
                          level=logging.WARNING)
            return None

    def _load_seg_map(self, results: dict) -> None:
        path = results.get('seg_map_path', 'a label map')
        try:
            super()._load_seg_map(results)
        except FileNotFoundError as err:
            raise FileNotFoundError(f'{path}: label map not found') from err
        except (AttributeError, OSError) as err:  # cv2 decodes a broken file to None
            raise OSError(f'{path}: cannot decode the label map (corrupt or not an image: '
                          f'{err})') from err
        seg = results['gt_seg_map']
        if seg.ndim != 2:  # e.g. a grey label map saved as RGB
            raise ValueError(f'{path}: a label map must have one channel of class indices, this '
                             f'one has shape {seg.shape}; save it as a single-channel (grey or '
                             'palette) PNG')
        # The image file's size (``ori_shape``): a test pipeline may resize
        # the image before the label map is loaded.
        img_shape: Optional[tuple] = (results.get('ori_shape') or results.get('img_shape') or (
            results['img'].shape[:2] if 'img' in results else None))
        if img_shape is not None and tuple(seg.shape[:2]) != tuple(img_shape[:2]):
            raise ValueError(f'{path}: label map is {seg.shape[1]}x{seg.shape[0]} but its image '
                             f'{results.get("img_path", "")} is {img_shape[1]}x{img_shape[0]}')
        values = np.unique(seg)
        bad = values[(values >= self.num_classes) & (values != self.ignore_index)]
        if bad.size:
            raise ValueError(f'{path}: label values {bad.tolist()} are not classes '
                             f'0..{self.num_classes - 1} nor the ignore value {self.ignore_index}')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index}, skip_bad={self.skip_bad})')
