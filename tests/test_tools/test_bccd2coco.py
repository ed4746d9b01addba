"""BCCD VOC -> COCO converter: coordinates, quirks, report, and vendored data."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from tests.conftest import DATA_DIR, REPO_ROOT

SCRIPT = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'bccd2coco.py')
SHARED_BCCD = osp.join(REPO_ROOT, '..', 'shared', 'data', 'bccd')


def _convert(src, out, *extra):
    return subprocess.run([sys.executable, SCRIPT, str(src), str(out), *extra],
                          capture_output=True, text=True)


def test_converts_real_annotations(tmp_path):
    proc = _convert(osp.join(DATA_DIR, 'bccd_voc'), tmp_path)
    assert proc.returncode == 0, proc.stderr
    train = json.loads((tmp_path / 'annotations' / 'train.json').read_text())
    assert [c['name'] for c in train['categories']] == ['RBC', 'WBC', 'Platelets']
    assert [i['file_name'] for i in train['images']] == [
        'BloodImage_00000.jpg', 'BloodImage_00338.jpg']
    # BloodImage_00000: WBC at VOC [260, 177, 491, 376] (1-based, inclusive).
    wbc = [a for a in train['annotations'] if a['image_id'] == 1 and a['category_id'] == 2]
    assert wbc[0]['bbox'] == [259, 176, 232, 200]
    assert wbc[0]['area'] == 232 * 200
    for ann in train['annotations']:
        x, y, w, h = ann['bbox']
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480
    assert (tmp_path / 'images' / 'BloodImage_00338.jpg').is_file()


def test_reports_dropped_point_box(tmp_path):
    proc = _convert(osp.join(DATA_DIR, 'bccd_voc'), tmp_path, '--no-copy-images')
    assert proc.returncode == 0, proc.stderr
    assert 'dropped train: BloodImage_00338 RBC [504.0, 337.0, 504.0, 337.0]' in proc.stdout
    assert 'train: 2 images' in proc.stdout and '1 dropped' in proc.stdout
    assert not (tmp_path / 'images').exists()
    train = json.loads((tmp_path / 'annotations' / 'train.json').read_text())
    for ann in train['annotations']:
        assert ann['bbox'][2] > 0 and ann['bbox'][3] > 0


def test_bad_input_names_the_file(tmp_path):
    src = tmp_path / 'voc'
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        (src / sub).mkdir(parents=True)
    for split in ('train', 'val', 'test', 'trainval'):
        (src / 'ImageSets' / 'Main' / f'{split}.txt').write_text('bad\n')
    (src / 'Annotations' / 'bad.xml').write_text('<annotation><size>')
    proc = _convert(src, tmp_path / 'out')
    assert proc.returncode != 0
    assert 'bad.xml' in proc.stderr and 'not a readable VOC annotation' in proc.stderr

    proc = _convert(tmp_path / 'missing', tmp_path / 'out')
    assert proc.returncode != 0 and 'Annotations/ is missing' in proc.stderr


def test_vendored_annotations_are_the_converter_output(tmp_path):
    if not osp.isdir(SHARED_BCCD):
        pytest.skip('../shared/data/bccd is not available')
    proc = _convert(SHARED_BCCD, tmp_path, '--no-copy-images')
    assert proc.returncode == 0, proc.stderr
    for split in ('train', 'val', 'test', 'trainval'):
        made = json.loads((tmp_path / 'annotations' / f'{split}.json').read_text())
        vendored = json.load(open(osp.join(REPO_ROOT, 'data', 'bccd', 'annotations',
                                           f'{split}.json')))
        assert made == vendored, split
    counts = {s: len(json.load(open(osp.join(REPO_ROOT, 'data', 'bccd', 'annotations',
                                             f'{s}.json')))['images'])
              for s in ('train', 'val', 'test')}
    assert counts == {'train': 205, 'val': 87, 'test': 72}
