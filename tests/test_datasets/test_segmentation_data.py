"""CamVid data and checked label maps: real fixture images, bad inputs named."""
import shutil

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope

from ssl_dense.datasets import CamVidDataset, LoadSegAnnotationsChecked
from tests.conftest import REPO_ROOT

CAMVID = f'{REPO_ROOT}/tests/data/camvid'


def _pipeline():
    return [dict(type='LoadImageFromFile'),
            dict(type='ssl_dense.LoadSegAnnotationsChecked', num_classes=11, ignore_index=11)]


def test_camvid_dataset_loads_images_and_checked_label_maps():
    with DefaultScope.overwrite_default_scope('mmseg'):
        prefix = dict(img_path='train', seg_map_path='trainannot')
        ds = CamVidDataset(data_root=CAMVID, data_prefix=prefix, pipeline=_pipeline())
        assert len(ds) == 4 and ds.metainfo['classes'][3] == 'Road'
        item = ds[0]
    assert item['gt_seg_map'].shape == item['img'].shape[:2] == (360, 480)
    assert set(np.unique(item['gt_seg_map'])) <= set(range(12))


def _copy(tmp_path):
    root = tmp_path / 'camvid'
    shutil.copytree(CAMVID, root)
    return root


def test_label_values_outside_the_classes_are_named(tmp_path):
    root = _copy(tmp_path)
    path = root / 'trainannot' / '0001TP_006690.png'
    seg = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    seg[0, 0] = 42
    cv2.imwrite(str(path), seg)
    t = LoadSegAnnotationsChecked(num_classes=11, ignore_index=11)
    with pytest.raises(ValueError, match=r'0001TP_006690.png: label values \[42\]'):
        t(dict(seg_map_path=str(path), img_shape=(360, 480), reduce_zero_label=False,
               seg_fields=[]))


def test_label_map_of_another_size_is_named(tmp_path):
    root = _copy(tmp_path)
    path = root / 'trainannot' / '0001TP_006720.png'
    seg = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(path), seg[:100])
    t = LoadSegAnnotationsChecked(num_classes=11, ignore_index=11)
    with pytest.raises(ValueError, match=r'0001TP_006720.png: label map is 480x100 but its '
                                         r'image .* is 480x360'):
        t(dict(seg_map_path=str(path), img_path='x.jpg', img_shape=(360, 480),
               reduce_zero_label=False, seg_fields=[]))


def test_label_map_with_colour_channels_is_named(tmp_path):
    """A grey label map saved as RGB passes the value check channel by channel;
    it must be named here, not fail in the loss with a shape error."""
    root = _copy(tmp_path)
    path = root / 'trainannot' / '0001TP_006750.png'
    seg = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(path), np.dstack([seg] * 3))
    t = LoadSegAnnotationsChecked(num_classes=11, ignore_index=11)
    with pytest.raises(ValueError, match=r'0001TP_006750.png: a label map must have one '
                                         r'channel .*\(360, 480, 3\)'):
        t(dict(seg_map_path=str(path), img_shape=(360, 480), reduce_zero_label=False,
               seg_fields=[]))


def test_empty_folder_is_named(tmp_path):
    (tmp_path / 'unlabeled').mkdir()
    with pytest.raises(ValueError, match=r'no image with suffix .\.jpg. in .*unlabeled'):
        with DefaultScope.overwrite_default_scope('mmseg'):
            CamVidDataset(data_root=str(tmp_path), data_prefix=dict(img_path='unlabeled'),
                          pipeline=[])


def test_split_listing_images_the_folder_lacks_is_named(tmp_path):
    """A split list over an empty (or wrong) unlabeled folder fails when the
    dataset is built, naming the list, the folder and missing files."""
    (tmp_path / 'unlabeled').mkdir()
    (tmp_path / 'split.txt').write_text('0001TP_006690\n0001TP_006720\n')
    with pytest.raises(FileNotFoundError, match=r'2 of the 2 images listed in .*split.txt are '
                       r'not in .*unlabeled, e.g. .*0001TP_006690.jpg'):
        with DefaultScope.overwrite_default_scope('mmseg'):
            CamVidDataset(data_root=str(tmp_path), ann_file='split.txt',
                          data_prefix=dict(img_path='unlabeled'), pipeline=[])


def test_missing_label_map_is_named(tmp_path):
    """An image whose label map was never copied fails naming the label map,
    not with a bare errno; it is still a FileNotFoundError (an OSError), so
    ``skip_bad=True`` skips it like a corrupt one."""
    root = _copy(tmp_path)
    path = root / 'trainannot' / '0001TP_006690.png'
    path.unlink()
    results = dict(seg_map_path=str(path), img_shape=(360, 480), reduce_zero_label=False,
                   seg_fields=[])
    t = LoadSegAnnotationsChecked(num_classes=11, ignore_index=11)
    with pytest.raises(FileNotFoundError, match=r'0001TP_006690.png: label map not found'):
        t(dict(results))
    skipping = LoadSegAnnotationsChecked(num_classes=11, ignore_index=11, skip_bad=True)
    assert skipping(dict(results)) is None
    assert skipping._warned == {str(path)}


def test_bad_label_maps_are_named_or_skipped_in_training(tmp_path):
    """A corrupt label map is an OSError naming the file (mmcv would fail on
    None without a name); with skip_bad=True a training dataset logs each bad
    map once and draws another sample, so a long run goes on."""
    root = _copy(tmp_path)
    (root / 'trainannot' / '0001TP_006690.png').write_bytes(b'not a png')
    values = root / 'trainannot' / '0001TP_006720.png'
    seg = cv2.imread(str(values), cv2.IMREAD_UNCHANGED)
    seg[5, 5] = 99
    cv2.imwrite(str(values), seg)
    t = LoadSegAnnotationsChecked(num_classes=11, ignore_index=11)
    with pytest.raises(OSError, match=r'0001TP_006690.png: cannot decode the label map'):
        t(dict(seg_map_path=str(root / 'trainannot' / '0001TP_006690.png'),
               img_shape=(360, 480), reduce_zero_label=False, seg_fields=[]))
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='ssl_dense.LoadSegAnnotationsChecked', num_classes=11, ignore_index=11,
                     skip_bad=True)]
    with DefaultScope.overwrite_default_scope('mmseg'):
        ds = CamVidDataset(data_root=str(root), pipeline=pipeline,
                           data_prefix=dict(img_path='train', seg_map_path='trainannot'))
        drawn = [ds[i]['seg_map_path'].rsplit('/', 1)[-1] for i in range(len(ds))
                 for _ in range(3)]
    assert set(drawn) <= {'0001TP_006750.png', '0001TP_006780.png'}
    skipping = ds.pipeline.transforms[1]
    assert {p.rsplit('/', 1)[-1] for p in skipping._warned} == {'0001TP_006690.png',
                                                                '0001TP_006720.png'}
