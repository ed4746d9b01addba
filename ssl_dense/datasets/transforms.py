"""Multi-view data: one loaded sample, several augmented views."""
import copy
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform, Compose

from ssl_dense.registry import TRANSFORMS
from ssl_dense.utils.typing_utils import ConfigType

__all__ = ['MultiView']


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

    Returns (from :meth:`transform`):
        dict: ``{'inputs': {branch: tensor or None}, 'data_samples': {branch:
        data sample or None}}``.

    Examples:
        >>> branches = ['sup', 'unsup_weak', 'unsup_strong']
        >>> t = MultiView(views=dict(sup=[dict(type='mmdet.PackDetInputs',
        ...     meta_keys=('img_shape', 'homography_matrix'))]), branches=branches)
    """

    def __init__(self, views: Dict[str, List[ConfigType]],
                 branches: Optional[Sequence[str]] = None) -> None:
        if not views:
            raise ValueError('MultiView needs at least one view')
        self.branches = list(branches) if branches is not None else list(views)
        unknown = [v for v in views if v not in self.branches]
        if unknown:
            raise KeyError(f'views {unknown} are not in branches {self.branches}; add them to '
                           'branches (the model reads the same names)')
        self.views = {name: Compose(pipeline) for name, pipeline in views.items()}

    def transform(self, results: dict) -> dict:
        out: dict = dict(inputs={b: None for b in self.branches},
                         data_samples={b: None for b in self.branches})
        for name, pipeline in self.views.items():
            view = copy.deepcopy(results)
            view['homography_matrix'] = np.eye(3, dtype=np.float32)
            packed = pipeline(view)
            if packed is None:  # a transform asked to skip the sample
                return None
            sample = packed['data_samples']
            if 'homography_matrix' not in sample.metainfo:
                raise KeyError(f'view {name!r} of {results.get("img_path", "sample")}: the '
                               "packed sample has no 'homography_matrix'; add it to meta_keys "
                               'of the pack transform of this view')
            out['inputs'][name] = packed['inputs']
            out['data_samples'][name] = sample
        return out

    def __repr__(self) -> str:
        views = ', '.join(f'{k}: {v!r}' for k, v in self.views.items())
        return f'{type(self).__name__}(branches={self.branches}, views={{{views}}})'
