"""tools/dataset_converters/images2coco.py: an unlabelled COCO file from a folder."""
import json
import shutil

import pytest
from PIL import Image

from tests.conftest import REPO_ROOT, load_script

BCCD = f'{REPO_ROOT}/data/bccd'


@pytest.fixture
def folder(tmp_path):
    """Three real BCCD images (one of them in the labelled file), a corrupt
    jpg and a text file."""
    folder = tmp_path / 'unlabeled'
    folder.mkdir()
    labelled = json.load(open(f'{BCCD}/annotations/semi/train.10pct.seed1.labeled.json'))
    unlabelled = json.load(open(f'{BCCD}/annotations/semi/train.10pct.seed1.unlabeled.json'))
    names = [labelled['images'][0]['file_name']] + [
        img['file_name'] for img in unlabelled['images'][:2]]
    for name in names:
        shutil.copy(f'{BCCD}/images/{name}', folder / name)
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a jpeg at all')
    (folder / 'notes.txt').write_text('not an image')
    return folder, names


def test_writes_images_with_sizes_and_the_labelled_categories(tmp_path, folder):
    tool = load_script('tools/dataset_converters/images2coco.py')
    folder, names = folder
    labelled = f'{BCCD}/annotations/semi/train.10pct.seed1.labeled.json'
    with pytest.raises(OSError, match='broken.jpg is not a readable image'):
        tool.main([str(folder), '--categories-from', labelled, '--out', str(tmp_path / 'u.json')])
    assert not (tmp_path / 'u.json').exists()
    coco = tool.main([str(folder), '--categories-from', labelled, '--out',
                      str(tmp_path / 'u.json'), '--skip-bad'])
    assert json.load(open(tmp_path / 'u.json')) == coco
    # The labelled image, the broken file and the text file are left out.
    assert [img['file_name'] for img in coco['images']] == sorted(names[1:])
    for img in coco['images']:
        assert (img['width'], img['height']) == Image.open(folder / img['file_name']).size
    assert len({img['id'] for img in coco['images']}) == 2
    assert coco['annotations'] == []
    assert coco['categories'] == json.load(open(labelled))['categories']


def test_semi_dataset_accepts_the_written_file_as_its_unlabelled_part(tmp_path, folder):
    from mmengine.registry import init_default_scope

    from ssl_dense.datasets import SemiDataset
    tool = load_script('tools/dataset_converters/images2coco.py')
    folder, _ = folder
    labelled = f'{BCCD}/annotations/semi/train.10pct.seed1.labeled.json'
    tool.main([str(folder), '--categories-from', labelled, '--out', str(tmp_path / 'u.json'),
               '--skip-bad'])
    init_default_scope('mmdet')
    common = dict(type='CocoDataset', metainfo=dict(classes=('RBC', 'WBC', 'Platelets')),
                  pipeline=[])
    semi = SemiDataset(
        labeled=dict(common, ann_file=labelled, data_prefix=dict(img=f'{BCCD}/images/')),
        unlabeled=dict(common, ann_file=str(tmp_path / 'u.json'),
                       data_prefix=dict(img=str(folder) + '/'),
                       filter_cfg=dict(filter_empty_gt=False)))
    assert semi.num_unlabeled == 2
    assert semi.datasets[1][0]['img_path'].startswith(str(folder))


def test_empty_folder_and_missing_categories_are_named(tmp_path):
    tool = load_script('tools/dataset_converters/images2coco.py')
    (tmp_path / 'empty').mkdir()
    labelled = f'{BCCD}/annotations/semi/train.10pct.seed1.labeled.json'
    with pytest.raises(FileNotFoundError, match='empty holds no images'):
        tool.main([str(tmp_path / 'empty'), '--categories-from', labelled, '--out',
                   str(tmp_path / 'u.json')])
    json.dump(dict(images=[]), open(tmp_path / 'plain.json', 'w'))
    with pytest.raises(KeyError, match='plain.json has no "categories"'):
        tool.main([str(tmp_path / 'empty'), '--categories-from', str(tmp_path / 'plain.json'),
                   '--out', str(tmp_path / 'u.json')])
