"""Multi-view data: one loaded sample, several augmented views."""
import copy
import logging
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform, Compose

from ssl_dense.registry import TRANSFORMS
from ssl_dense.utils.typing_utils import ConfigType

__all__ = ['MultiView', 'LoadImageChecked', 'AlbuPhotometric']


@TRANSFORMS.register_module()
class MultiView(BaseTransform):
    """Run one pipeline per view on copies of the same sample.

    A labeled dataset typically has one view (the labeled branch); an
    unlabeled one has a weak view, which the teacher labels, and a strong
    view, which the student learns from. Every view starts from an identity
    ``homography_matrix`` (3x3, original image -> view); geometric transforms
    that record it (mmdet's Resize, RandomFlip, RandomCrop, ...) compose it, so
    pseudo labels can be moved between views of the same image. The pack
    transform at the end of each view must keep ``homography_matrix`` in its
    ``meta_keys``.

    The output has every name of ``branches``; branches this dataset does not
    produce are None, so labeled and unlabeled samples can share a batch.

    Args:
        views (dict[str, list[dict]]): View name -> pipeline; the last step
            packs the view (e.g. ``PackDetInputs``).
        branches (Sequence[str], optional): All branch names of the
            semi-supervised model. Defaults to the keys of ``views``.
        shared (list[dict], optional): Transforms run once, before the
            sample is copied into the views, so every view inherits their
            result (e.g. UniMatch's weak and strong views share one random
            crop and flip; the strong one only adds photometric noise). The
            homography they record is the start of every view's. Defaults
            to None.

    Returns (from :meth:`transform`):
        dict: ``{'inputs': {branch: tensor or None}, 'data_samples': {branch:
        data sample or None}}``.

    Examples:
        >>> branches = ['sup', 'unsup_weak', 'unsup_strong']
        >>> t = MultiView(views=dict(sup=[dict(type='mmdet.PackDetInputs',
        ...     meta_keys=('img_shape', 'homography_matrix'))]), branches=branches)
    """

    def __init__(self, views: Dict[str, List[ConfigType]],
                 branches: Optional[Sequence[str]] = None,
                 shared: Optional[List[ConfigType]] = None) -> None:
        if not views:
            raise ValueError('MultiView needs at least one view')
        self.branches = list(branches) if branches is not None else list(views)
        unknown = [v for v in views if v not in self.branches]
        if unknown:
            raise KeyError(f'views {unknown} are not in branches {self.branches}; add them to '
                           'branches (the model reads the same names)')
        empty = [name for name, pipeline in views.items() if not pipeline]
        if empty:
            raise ValueError(f'views {empty} have no transforms; each view ends with its pack '
                             'transform (e.g. PackSegInputs)')
        self.views = {name: Compose(pipeline) for name, pipeline in views.items()}
        self.shared = Compose(shared) if shared else None

    def transform(self, results: dict) -> dict:
        out: dict = dict(inputs={b: None for b in self.branches},
                         data_samples={b: None for b in self.branches})
        results = dict(results, homography_matrix=np.eye(3, dtype=np.float32))
        if self.shared is not None:
            results = self.shared(results)
            if results is None:  # a transform asked to skip the sample
                return None
        for name, pipeline in self.views.items():
            view = copy.deepcopy(results)
            *steps, pack = pipeline.transforms
            for step in steps:
                view = step(view)
                if view is None:  # a transform asked to skip the sample
                    return None
            unrecorded = _unrecorded_geometry(results, view)
            packed = pack(view)
            if packed is None:
                return None
            sample = packed['data_samples']
            if unrecorded:  # an error only where pseudo labels are moved (homography_of)
                steps = ', '.join(type(t).__name__ for t in pipeline.transforms)
                sample.set_metainfo(dict(unrecorded_geometry=(
                    f'view {name!r} ({steps}) {unrecorded} but recorded no homography_matrix '
                    "for it (mmcv's and mmseg's RandomFlip, RandomCrop and Resize record none), "
                    'so pseudo labels moved to or from this view would land in the wrong place. '
                    "Use mmdet's transforms (mmdet.RandomFlip, mmdet.RandomCrop, mmdet.Resize) "
                    "or move the transform into MultiView's shared steps")))
            if 'homography_matrix' not in sample.metainfo:
                raise KeyError(f'view {name!r} of {results.get("img_path", "sample")}: the '
                               "packed sample has no 'homography_matrix'; add it to meta_keys "
                               'of the pack transform of this view')
            out['inputs'][name] = packed['inputs']
            out['data_samples'][name] = sample
        return out

    def __repr__(self) -> str:
        views = ', '.join(f'{k}: {v!r}' for k, v in self.views.items())
        return (f'{type(self).__name__}(branches={self.branches}, shared={self.shared!r}, '
                f'views={{{views}}})')


def _unrecorded_geometry(before: dict, after: dict) -> Optional[str]:
    """What a view's own transforms did to the image's geometry without
    composing it into ``homography_matrix`` (``before``: the sample as the
    views start, ``after``: one view before packing), or None.

    Caught: a flip (``flip`` set by the view) that left the matrix's
    orientation as it was, and a new image size while the matrix stayed the
    same (a crop or resize). A rotation that records nothing is not caught.
    """
    start = np.asarray(before['homography_matrix'], dtype=np.float64)
    own = np.asarray(after.get('homography_matrix', start), dtype=np.float64) @ np.linalg.inv(
        start)
    untouched = np.allclose(own, np.eye(3), atol=1e-6)
    found = []
    if after.get('flip') and not before.get('flip'):
        direction = after.get('flip_direction') or 'horizontal'
        # A horizontal or vertical flip mirrors (negative determinant); a
        # diagonal one is a half turn, which only an untouched matrix misses.
        if untouched if direction == 'diagonal' else np.linalg.det(own[:2, :2]) > 0:
            found.append(f'flipped the image ({direction})')
    size_in, size_out = before.get('img_shape'), after.get('img_shape')
    if untouched and size_in is not None and size_out is not None and tuple(
            size_in[:2]) != tuple(size_out[:2]):
        found.append(f'made the image {size_out[1]}x{size_out[0]} (was {size_in[1]}x{size_in[0]})')
    return ' and '.join(found) or None


@TRANSFORMS.register_module()
class LoadImageChecked(BaseTransform):
    """Load an image; name the file when it is missing or cannot be decoded.

    mmcv's ``LoadImageFromFile`` fails on a corrupt file with a bare
    assertion, and its ``ignore_empty`` only covers missing files. This one
    raises ``OSError`` naming the file for both, or, with ``skip_bad=True``,
    logs a warning (once per file) and returns None so the dataset draws
    another sample and training goes on.

    Args:
        skip_bad (bool): Skip unreadable images instead of failing.
            Defaults to False.
        to_float32 (bool): Convert to float32. Defaults to False.
        color_type (str): As in ``mmcv.imfrombytes``. Defaults to 'color'.
        imdecode_backend (str): Defaults to 'cv2'.
        backend_args (dict, optional): File backend arguments. Defaults to
            None.
    """

    def __init__(self, skip_bad: bool = False, to_float32: bool = False,
                 color_type: str = 'color', imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        self.skip_bad = skip_bad
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args
        self._warned: set = set()

    def transform(self, results: dict) -> Optional[dict]:
        import mmcv
        from mmengine import fileio
        from mmengine.logging import print_log
        path = results['img_path']
        try:
            img = mmcv.imfrombytes(fileio.get(path, backend_args=self.backend_args),
                                   flag=self.color_type, backend=self.imdecode_backend)
            if img is None:
                raise ValueError('the file is not a readable image (corrupt or wrong format)')
        except Exception as err:  # missing file, permission, decode error
            message = f'cannot load image {path}: {type(err).__name__}: {err}'
            if not self.skip_bad:
                raise OSError(message + ' (set skip_bad=True on LoadImageChecked to skip '
                              'unreadable images and go on)') from err
            if path not in self._warned:
                self._warned.add(path)
                print_log(f'{message}; skipped (skip_bad=True)', logger='current',
                          level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class AlbuPhotometric(BaseTransform):
    """Pixel-level albumentations transforms on ``results['img']``.

    For the strong view of any task: only transforms that leave the geometry
    unchanged (albumentations ``ImageOnlyTransform``: colour jitter, blur,
    noise, CLAHE, ...) are allowed, so boxes, masks, keypoints and the
    recorded ``homography_matrix`` stay valid without being touched. A
    geometric transform in the list is an error at build time; use the
    task's own geometric transforms, which record the homography.

    Randomness comes from numpy's global generator (seeded per data worker by
    mmengine), so a run with ``randomness.seed`` set is reproducible.

    Args:
        transforms (list[dict]): albumentations transforms, each
            ``dict(type=<name in albumentations>, **kwargs)``, applied in
            order (``p`` per transform as in albumentations).
        bgr (bool): The image is BGR (mmcv's loaders); it is passed to
            albumentations as RGB and converted back. Defaults to True.

    Examples:
        >>> t = AlbuPhotometric(transforms=[
        ...     dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
        ...          hue=0.1, p=0.8),
        ...     dict(type='GaussianBlur', blur_limit=(3, 7), p=0.5)])
    """

    def __init__(self, transforms: List[ConfigType], bgr: bool = True) -> None:
        import albumentations as A
        built = []
        for i, cfg in enumerate(transforms):
            cfg = dict(cfg)
            name = cfg.pop('type', None)
            cls = getattr(A, name, None) if isinstance(name, str) else None
            if cls is None:
                raise KeyError(f'AlbuPhotometric.transforms[{i}]: {name!r} is not an '
                               f'albumentations transform (albumentations {A.__version__})')
            if not issubclass(cls, A.ImageOnlyTransform):
                raise TypeError(f'AlbuPhotometric.transforms[{i}]: {name} changes the geometry '
                                '(it is not an albumentations ImageOnlyTransform), which would '
                                'leave boxes, masks, keypoints and homography_matrix wrong. '
                                'Use a pixel-level transform here and the task\'s own '
                                'geometric transforms elsewhere')
            built.append(cls(**cfg))
        self.compose = A.Compose(built)
        self.bgr = bgr

    def transform(self, results: dict) -> dict:
        img = results['img']
        if self.bgr:
            img = img[..., ::-1]
        # Seeded from numpy's global generator: reproducible under mmengine's seeding.
        self.compose.set_random_seed(int(np.random.randint(2**31)))
        out = self.compose(image=np.ascontiguousarray(img))['image']
        results['img'] = np.ascontiguousarray(out[..., ::-1]) if self.bgr else out
        return results

    def __repr__(self) -> str:
        names = [type(t).__name__ for t in self.compose.transforms]
        return f'{type(self).__name__}(transforms={names}, bgr={self.bgr})'
