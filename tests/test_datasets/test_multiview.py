"""MultiView: one sample, several views with their homography matrices."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from ssl_dense.datasets import MultiView
from tests.conftest import REPO_ROOT

IMG = f'{REPO_ROOT}/data/bccd/images/BloodImage_00001.jpg'
KEYS = ('img_shape', 'flip', 'flip_direction', 'homography_matrix')


def _load():
    import mmcv
    img = mmcv.imread(IMG)
    return dict(img=img, img_path=IMG, img_shape=img.shape[:2], ori_shape=img.shape[:2])


@pytest.fixture(autouse=True)
def _mmdet_scope():
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def test_views_record_their_own_transforms():
    t = MultiView(branches=['sup', 'weak', 'strong'], views=dict(
        weak=[dict(type='Resize', scale=(320, 240), keep_ratio=True),
              dict(type='PackDetInputs', meta_keys=KEYS)],
        strong=[dict(type='Resize', scale=(320, 240), keep_ratio=True),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
                dict(type='PackDetInputs', meta_keys=KEYS)]))
    out = t(_load())
    assert out['inputs']['sup'] is None and out['data_samples']['sup'] is None
    weak = out['data_samples']['weak'].homography_matrix
    strong = out['data_samples']['strong'].homography_matrix
    np.testing.assert_allclose(weak, np.diag([0.5, 0.5, 1.0]))
    np.testing.assert_allclose(strong, [[-0.5, 0, 320], [0, 0.5, 0], [0, 0, 1]])
    assert out['inputs']['strong'].shape == (3, 240, 320)


def test_shared_transforms_run_once_for_all_views():
    crop = dict(type='RandomCrop', crop_size=(100, 120))  # (width, height)
    t = MultiView(shared=[crop], views=dict(
        weak=[dict(type='PackDetInputs', meta_keys=KEYS)],
        strong=[dict(type='RandomFlip', prob=1.0, direction='horizontal'),
                dict(type='PackDetInputs', meta_keys=KEYS)]))
    out = t(_load())
    weak = out['data_samples']['weak'].homography_matrix
    strong = out['data_samples']['strong'].homography_matrix
    # One crop (a translation) for both; the strong view flips it as well.
    assert weak[0, 0] == 1 and weak[0, 2] <= 0 and weak[1, 2] <= 0
    np.testing.assert_allclose(strong, np.array([[-1, 0, 100], [0, 1, 0], [0, 0, 1]]) @ weak)
    np.testing.assert_array_equal(out['inputs']['strong'].numpy(),
                                  out['inputs']['weak'].flip(-1).numpy())


@pytest.mark.parametrize('transform, found', [
    (dict(type='mmcv.RandomFlip', prob=1.0), r'flipped the image \(horizontal\)'),
    (dict(type='mmseg.RandomCrop', crop_size=(96, 96)), r'made the image 96x96 \(was 640x480\)'),
    (dict(type='mmcv.Resize', scale=(320, 240)), 'made the image 320x240'),
])
def test_view_geometry_without_homography_fails_where_pseudo_labels_move(transform, found):
    """mmcv's and mmseg's flip, crop and resize move pixels without composing
    homography_matrix: pseudo labels moved to such a view would be misplaced
    in silence. The view is marked, and moving labels to it names the view,
    what happened and the mmdet transform to use; mmdet's flip is fine."""
    from ssl_dense.models.semi.adapter import homography_of
    keys = KEYS + ('img_path', )
    pack = dict(type='PackDetInputs', meta_keys=keys)
    t = MultiView(views=dict(weak=[pack], strong=[transform, pack]))
    out = t(_load())['data_samples']
    homography_of(out['weak'], torch.zeros(1))  # the weak view is untouched
    with pytest.raises(ValueError, match=rf"BloodImage_00001.jpg: view 'strong' \(\w+, "
                                         rf"PackDetInputs\) {found}.*mmdet.RandomFlip"):
        homography_of(out['strong'], torch.zeros(1))
    good = MultiView(views=dict(strong=[dict(type='mmdet.RandomFlip', prob=1.0), pack]))
    assert homography_of(good(_load())['data_samples']['strong'], torch.zeros(1))[0, 0] == -1
    # Shared steps are harmless (every view inherits them): no mark.
    shared = MultiView(shared=[transform], views=dict(strong=[pack]))
    assert 'unrecorded_geometry' not in shared(_load())['data_samples']['strong']


def test_missing_homography_meta_key_names_the_view():
    t = MultiView(views=dict(weak=[dict(type='PackDetInputs', meta_keys=('img_shape', ))]))
    with pytest.raises(KeyError, match="view 'weak' .*BloodImage_00001.jpg.*meta_keys"):
        t(_load())


def test_views_must_be_branches():
    with pytest.raises(KeyError, match=r"views \['strong'\] are not in branches"):
        MultiView(branches=['sup'], views=dict(strong=[dict(type='PackDetInputs')]))
    with pytest.raises(ValueError, match='at least one view'):
        MultiView(views={})


def test_albu_photometric_changes_pixels_not_geometry_and_follows_numpy_seed():
    from ssl_dense.datasets import AlbuPhotometric
    t = AlbuPhotometric(transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=1.0),
        dict(type='GaussianBlur', blur_limit=(3, 7), p=1.0)])
    results = _load()
    results['gt_bboxes'] = np.array([[10., 20., 30., 40.]], dtype=np.float32)
    results['homography_matrix'] = np.eye(3, dtype=np.float32)
    np.random.seed(3)
    out = t(dict(results, img=results['img'].copy()))
    assert out['img'].shape == results['img'].shape and out['img'].dtype == np.uint8
    assert np.abs(out['img'].astype(int) - results['img'].astype(int)).mean() > 1
    assert out['gt_bboxes'].tolist() == [[10., 20., 30., 40.]]
    assert np.array_equal(out['homography_matrix'], np.eye(3))
    np.random.seed(3)
    again = t(dict(results, img=results['img'].copy()))
    assert np.array_equal(out['img'], again['img'])


def test_albu_photometric_refuses_geometric_and_unknown_transforms():
    from ssl_dense.datasets import AlbuPhotometric
    with pytest.raises(TypeError, match='HorizontalFlip changes the geometry'):
        AlbuPhotometric(transforms=[dict(type='HorizontalFlip')])
    with pytest.raises(KeyError, match='NoSuchAug'):
        AlbuPhotometric(transforms=[dict(type='NoSuchAug')])
