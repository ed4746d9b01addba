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


def test_sizes_are_what_the_training_loader_decodes(tmp_path):
    """An EXIF-rotated photo is as wide as mmcv loads it (not as its header
    says); a truncated jpeg is refused by name, not passed on to crash training."""
    import mmcv
    import numpy as np
    tool = load_script('tools/dataset_converters/images2coco.py')
    pixels = (np.random.default_rng(0).random((300, 400, 3)) * 255).astype('uint8')
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    Image.fromarray(pixels).save(tmp_path / 'side.jpg', exif=exif)
    loaded = mmcv.imread(str(tmp_path / 'side.jpg'))
    assert tool.image_size(str(tmp_path / 'side.jpg')) == (loaded.shape[1], loaded.shape[0])
    assert tool.image_size(str(tmp_path / 'side.jpg')) == (300, 400)
    data = (tmp_path / 'side.jpg').read_bytes()
    (tmp_path / 'cut.jpg').write_bytes(data[:len(data) // 3])
    with pytest.raises(OSError, match='cut.jpg is not a readable image'):
        tool.image_size(str(tmp_path / 'cut.jpg'))


def test_recursive_folders_leave_out_only_the_labelled_path(tmp_path):
    tool = load_script('tools/dataset_converters/images2coco.py')
    image = Image.open(f'{BCCD}/images/BloodImage_00000.jpg')
    for name in ('cam1/0001.jpg', 'cam2/0001.jpg', 'cam2/0002.jpg'):
        (tmp_path / 'data' / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(tmp_path / 'data' / name)
    json.dump(dict(images=[dict(id=1, file_name='cam1/0001.jpg', width=1, height=1)],
                   categories=[dict(id=1, name='cell')]), open(tmp_path / 'lab.json', 'w'))
    coco, bad, labelled = tool.images_to_coco(str(tmp_path / 'data'), str(tmp_path / 'lab.json'),
                                              recursive=True)
    assert [img['file_name'] for img in coco['images']] == ['cam2/0001.jpg', 'cam2/0002.jpg']
    assert (bad, labelled) == ([], 1)
    with pytest.raises(SystemExit):  # would overwrite the labelled file
        tool.main([str(tmp_path / 'data'), '--categories-from', str(tmp_path / 'lab.json'),
                   '--out', str(tmp_path / 'lab.json')])
