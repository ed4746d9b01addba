"""Pose views: mmpose's top-down crop that also records where it maps the image."""
from typing import Dict, Optional

import numpy as np
from mmpose.datasets.transforms import TopdownAffine
from mmpose.structures.bbox import get_udp_warp_matrix, get_warp_matrix

from ssl_dense.registry import TRANSFORMS

__all__ = ['TopdownAffineWithHomography', 'flip_matrix']


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
