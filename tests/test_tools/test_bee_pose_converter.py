"""tools/dataset_converters/bee_pose_to_coco.py on real bee images."""
import json
import shutil

import pytest

from tests.conftest import REPO_ROOT, load_script

FIXTURE = f'{REPO_ROOT}/tests/data/bee_pose'


def _convert(tmp_path, src=FIXTURE, extra=()):
    tool = load_script('tools/dataset_converters/bee_pose_to_coco.py')
    return tool.main([str(src), '--dst', str(tmp_path / 'bee_pose'), *extra])


def test_writes_coco_keypoints_that_mmpose_loads(tmp_path):
    written = _convert(tmp_path)
    train = json.load(open(written['train']))
    test = json.load(open(written['test']))
    assert (len(train['images']), len(train['annotations'])) == (3, 2)  # one without keypoints
    assert (len(test['images']), len(test['annotations'])) == (1, 1)
    cat = train['categories'][0]
    assert len(cat['keypoints']) == 32 and cat['keypoints'][0] == 'head_front'
    assert [1, 4] in cat['skeleton']  # head_front - head_back, 1-based as COCO stores it
    source = {e['path']: e for e in json.load(open(f'{FIXTURE}/pose_dataset.json'))}
    for ann in train['annotations']:
        image = next(i for i in train['images'] if i['id'] == ann['image_id'])
        kps = source[image['file_name']]['keypoints']
        assert ann['num_keypoints'] == len(kps)
        x0, y0, w, h = ann['bbox']
        for key, (x, y) in kps.items():
            assert ann['keypoints'][3 * int(key):3 * int(key) + 3] == [x, y, 2]
            assert x0 < x < x0 + w and y0 < y < y0 + h  # the box holds every keypoint
        assert 0 <= x0 and x0 + w <= image['width'] and y0 + h <= image['height']
    partial = next(a for a in train['annotations'] if a['num_keypoints'] == 31)
    missing = [k for k in range(32) if partial['keypoints'][3 * k + 2] == 0]
    assert len(missing) == 1 and partial['keypoints'][3 * missing[0]:3 * missing[0] + 2] == [0, 0]

    from mmpose.datasets import CocoDataset
    ds = CocoDataset(data_root=str(tmp_path / 'bee_pose'),
                     ann_file='annotations/bee_pose_train.json', data_prefix=dict(img=''),
                     metainfo=dict(from_file=f'{REPO_ROOT}/configs/_base_/datasets/bee_pose.py'),
                     pipeline=[])
    assert len(ds) == 2 and ds.metainfo['num_keypoints'] == 32
    sample = ds[0]
    assert sample['keypoints'].shape == (1, 32, 2)
    assert (tmp_path / 'bee_pose' / sample['img_path'].split('bee_pose/')[-1]).exists()
    # Left and right swap under a horizontal flip.
    flip = ds.metainfo['flip_indices']
    assert flip[1] == 2 and flip[6] == 7 and flip[8] == 20 and flip[0] == 0


def _broken(tmp_path, change):
    src = tmp_path / 'src'
    shutil.copytree(FIXTURE, src)
    entries = json.load(open(src / 'pose_dataset.json'))
    change(entries)
    json.dump(entries, open(src / 'pose_dataset.json', 'w'))
    return src


def test_keypoint_outside_the_image_is_named(tmp_path):
    src = _broken(tmp_path, lambda e: e[0]['keypoints'].update({'5': [310, 20]}))
    with pytest.raises(ValueError, match=r'video_103.*keypoint 5 \(body_back\) at \(310, 20\) '
                       r'lies outside the 299x299 image'):
        _convert(tmp_path, src)


def test_keypoint_id_outside_the_meta_is_named(tmp_path):
    src = _broken(tmp_path, lambda e: e[3]['keypoints'].update({'32': [10, 10]}))
    with pytest.raises(ValueError, match=r"video_612.*keypoint id '32' is not one of the 32"):
        _convert(tmp_path, src)


def test_unreadable_image_is_named(tmp_path):
    src = _broken(tmp_path, lambda e: None)
    (src / 'pose' / 'florian-127.jpeg').write_bytes(b'not an image')
    with pytest.raises(ValueError, match='cannot read image .*florian-127.jpeg'):
        _convert(tmp_path, src)
