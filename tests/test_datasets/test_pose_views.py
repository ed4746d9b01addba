"""Pose views record the map from the image to the model input (flip included)."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from tests.conftest import REPO_ROOT, load_script

META = f'{REPO_ROOT}/configs/_base_/datasets/bee_pose.py'


@pytest.fixture(scope='module')
def bee_root(tmp_path_factory):
    dst = tmp_path_factory.mktemp('bee') / 'bee_pose'
    load_script('tools/dataset_converters/bee_pose_to_coco.py').main(
        [f'{REPO_ROOT}/tests/data/bee_pose', '--dst', str(dst), '--copy'])
    return dst


def _dataset(root, pipeline):
    from mmpose.datasets import CocoDataset
    init_default_scope('mmpose')
    return CocoDataset(data_root=str(root), ann_file='annotations/bee_pose_train.json',
                       data_prefix=dict(img=''), metainfo=dict(from_file=META),
                       pipeline=pipeline)


@pytest.mark.parametrize('flip_prob', [0.0, 1.0])
def test_homography_maps_image_keypoints_onto_the_view(bee_root, flip_prob):
    import torch
    torch.manual_seed(0)
    np.random.seed(0)
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', direction='horizontal', prob=flip_prob),
        dict(type='RandomBBoxTransform', rotate_prob=1.0, rotate_factor=40.0,
             scale_factor=(0.7, 1.3), shift_prob=1.0),
        dict(type='ssl_dense.TopdownAffineWithHomography', input_size=(96, 128)),
    ]
    raw = _dataset(bee_root, [])
    views = _dataset(bee_root, pipeline)
    for idx in range(len(raw)):
        original = raw[idx]['keypoints'][0]  # (32, 2) in the loaded image
        visible = raw[idx]['keypoints_visible'][0] > 0
        out = views[idx]
        assert out['flip'] == bool(flip_prob)
        h = out['homography_matrix'].astype(np.float64)
        mapped = (h[:, :2] @ original.T + h[:, 2:]).T
        mapped = mapped[:, :2] / mapped[:, 2:]
        order = np.asarray(out['flip_indices']) if out['flip'] else np.arange(32)
        # View keypoint k is image keypoint order[k]; mmpose moved it with cv2.
        view = out['transformed_keypoints'][0]
        np.testing.assert_allclose(view[visible[order]], mapped[order][visible[order]],
                                   atol=1e-3)
        assert out['img'].shape[:2] == (128, 96)
