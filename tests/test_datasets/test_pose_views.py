"""Pose views record the map from the image to the model input (flip included)."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from tests.conftest import REPO_ROOT

META = f'{REPO_ROOT}/configs/_base_/datasets/bee_pose.py'


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


def _checked(root, ann, **kwargs):
    from ssl_dense.datasets import PoseCocoDataset
    init_default_scope('mmpose')
    return PoseCocoDataset(data_root=str(root), ann_file=ann, data_prefix=dict(img=''),
                           metainfo=dict(from_file=META), pipeline=[], **kwargs)


def _edited(root, tmp_path, change):
    import json
    coco = json.load(open(root / 'annotations' / 'bee_pose_train.json'))
    change(coco)
    path = tmp_path / 'edited.json'
    json.dump(coco, open(path, 'w'))
    return str(path)


def test_keypoint_count_that_differs_from_the_meta_is_named(bee_root, tmp_path):
    def drop_one(coco):
        coco['annotations'][1]['keypoints'] = coco['annotations'][1]['keypoints'][:-3]
    with pytest.raises(ValueError, match=r'\(annotation 2\) has 31 keypoints; the dataset '
                       r'meta \(bee_pose\) has 32'):
        _checked(bee_root, _edited(bee_root, tmp_path, drop_one))


def test_keypoint_outside_the_image_is_named(bee_root, tmp_path):
    def push_out(coco):
        coco['annotations'][0]['keypoints'][3 * 4:3 * 4 + 3] = [300.0, 10.0, 2]
    with pytest.raises(ValueError, match=r'video_103.*keypoint 4 \(body_center\) at \(300, 10\) '
                       'lies outside the 299x299 image'):
        _checked(bee_root, _edited(bee_root, tmp_path, push_out))


def test_bees_without_visible_keypoints_are_skipped_but_stay_unlabeled_images(
        bee_root, tmp_path):
    def hide_all(coco):
        ann = coco['annotations'][0]
        ann['keypoints'] = [0.0] * (3 * 32)
        ann['num_keypoints'] = 0
    ann = _edited(bee_root, tmp_path, hide_all)
    assert len(_checked(bee_root, ann)) == 1  # 2 bees, one without keypoints
    unlabeled = _checked(bee_root, ann, unlabeled=True)
    assert len(unlabeled) == 3  # every image, the one without any annotation too
    import json
    sizes = {im['id']: (im['width'], im['height']) for im in json.load(open(ann))['images']}
    for i in range(3):
        item = unlabeled[i]
        w, h = sizes[item['img_id']]
        assert item['bbox'].tolist() == [[0, 0, w - 1, h - 1]]  # the whole image


def test_unlabeled_images_keep_hidden_truth_only_for_analysis(bee_root):
    unlabeled = _checked(bee_root, 'annotations/bee_pose_train.json', unlabeled=True)
    labeled = _checked(bee_root, 'annotations/bee_pose_train.json')
    by_path = {labeled[i]['img_path']: labeled[i] for i in range(len(labeled))}
    for i in range(len(unlabeled)):
        item = unlabeled[i]
        if item['img_path'] in by_path:
            np.testing.assert_array_equal(item['keypoints'], by_path[item['img_path']]['keypoints'])
        else:
            assert item['keypoints_visible'].sum() == 0
        w = item['bbox'][0, 2] + 1
        assert w > 100 and item['bbox'][0, 0] == 0  # the whole image, not the bee's box
