"""SemiDataset checks, LabeledUnlabeledSampler batches, LoadImageChecked errors."""
import json

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import ssl_dense.datasets.semi_dataset as semi_dataset
from ssl_dense.datasets import LabeledUnlabeledSampler, LoadImageChecked, SemiDataset
from tests.conftest import REPO_ROOT

SEMI_CONFIG = 'configs/mean_teacher/mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py'


def _parts(indices=None):
    """Labeled and unlabeled dataset configs of the 10 % BCCD split."""
    cfg = Config.fromfile(SEMI_CONFIG)
    data = cfg.train_dataloader.dataset
    labeled, unlabeled = data.labeled, data.unlabeled
    if indices:
        labeled.indices = unlabeled.indices = indices
    return labeled, unlabeled


def _semi(labeled, unlabeled):
    with DefaultScope.overwrite_default_scope('mmdet'):
        return SemiDataset(labeled=labeled, unlabeled=unlabeled)


def test_semi_dataset_order_and_sizes():
    dataset = _semi(*_parts())
    assert (dataset.num_labeled, dataset.num_unlabeled) == (20, 185)
    assert set(dataset[0]['data_samples']) == {'sup', 'unsup_weak', 'unsup_strong'}
    assert dataset[0]['data_samples']['unsup_weak'] is None
    assert dataset[20]['data_samples']['sup'] is None


def test_empty_unlabeled_set_is_named(tmp_path):
    labeled, unlabeled = _parts()
    coco = json.load(open(f'{REPO_ROOT}/data/bccd/annotations/semi/'
                          'train.10pct.seed1.unlabeled.json'))
    coco['images'] = []
    (tmp_path / 'empty.json').write_text(json.dumps(coco))
    unlabeled.ann_file = str(tmp_path / 'empty.json')
    with pytest.raises(ValueError, match=r'unlabeled dataset \(.*empty.json\) has no samples'):
        _semi(labeled, unlabeled)


def test_unreadable_annotation_file_is_named(tmp_path):
    labeled, unlabeled = _parts()
    (tmp_path / 'cut.json').write_text('{"images": [')
    unlabeled.ann_file = str(tmp_path / 'cut.json')
    with pytest.raises(ValueError, match=r'cut.json is not valid JSON'):
        _semi(labeled, unlabeled)


def test_different_categories_are_named(tmp_path):
    labeled, unlabeled = _parts()
    coco = json.load(open(f'{REPO_ROOT}/data/bccd/annotations/semi/'
                          'train.10pct.seed1.unlabeled.json'))
    coco['categories'] = coco['categories'][::-1]
    (tmp_path / 'other.json').write_text(json.dumps(coco))
    unlabeled.ann_file = str(tmp_path / 'other.json')
    with pytest.raises(ValueError, match='different categories.*other.json'):
        _semi(labeled, unlabeled)


def test_sampler_batches_mix_labeled_and_unlabeled():
    dataset = _semi(*_parts())
    sampler = LabeledUnlabeledSampler(dataset, batch_size=4, num_labeled=1, seed=0)
    indices = list(sampler)
    assert len(indices) == len(sampler) == 62 * 4  # ceil(185 / 3) batches
    batches = np.array(indices).reshape(-1, 4)
    assert (batches[:, 0] < 20).all() and (batches[:, 1:] >= 20).all()
    assert set(batches[:, 1:].flatten()) == set(range(20, 205))  # one pass over unlabeled
    sampler.set_epoch(1)
    assert list(sampler) != indices
    with pytest.raises(ValueError, match='num_labeled must be in'):
        LabeledUnlabeledSampler(dataset, batch_size=4, num_labeled=4)


def test_sampler_shards_across_ranks(monkeypatch):
    dataset = _semi(*_parts())
    per_rank = []
    for rank in (0, 1):
        monkeypatch.setattr(semi_dataset, 'get_dist_info', lambda r=rank: (r, 2))
        sampler = LabeledUnlabeledSampler(dataset, batch_size=2, num_labeled=1, seed=0)
        batches = np.array(list(sampler)).reshape(-1, 2)
        assert len(batches) == 93  # ceil(185 / (1 * 2 ranks)), padded by reshuffling
        assert (batches[:, 0] < 20).all() and (batches[:, 1] >= 20).all()
        per_rank.append(set(batches[:, 1]))
    assert len(per_rank[0] | per_rank[1]) == 185
    assert len(per_rank[0] & per_rank[1]) <= 1  # only the padding may repeat


def test_epoch_based_semi_training(tmp_path):
    cfg = Config.fromfile(SEMI_CONFIG)
    labeled, unlabeled = _parts(indices=4)
    cfg.train_dataloader = dict(
        batch_size=2, num_workers=0,
        sampler=dict(type='LabeledUnlabeledSampler', batch_size=2, num_labeled=1, seed=0),
        dataset=dict(_scope_='mmdet', type='ssl_dense.SemiDataset', labeled=labeled,
                     unlabeled=unlabeled))
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=10)
    cfg.param_scheduler = []
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.custom_hooks = [dict(type='TeacherEMAHook', momentum=0.9),
                        dict(type='UnsupWeightHook')]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.log_processor.by_epoch = True
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = 'epoch_semi'
    runner = Runner.from_cfg(cfg)
    runner.train()
    # 4 unlabeled images, 1 per batch: 4 iterations an epoch.
    assert runner.epoch == 2 and runner.iter == 8
    assert (tmp_path / 'epoch_2.pth').is_file()


def test_load_image_checked_names_bad_files(tmp_path):
    bad = tmp_path / 'corrupt.jpg'
    bad.write_bytes(b'not a jpeg at all')
    t = LoadImageChecked()
    with pytest.raises(OSError, match='cannot load image .*corrupt.jpg.*skip_bad'):
        t(dict(img_path=str(bad)))
    with pytest.raises(OSError, match='cannot load image .*missing.jpg'):
        t(dict(img_path=str(tmp_path / 'missing.jpg')))
    assert LoadImageChecked(skip_bad=True)(dict(img_path=str(bad))) is None
    good = LoadImageChecked()(dict(img_path=f'{REPO_ROOT}/data/bccd/images/BloodImage_00001.jpg'))
    assert good['img'].shape == (480, 640, 3) and good['ori_shape'] == (480, 640)


def test_albumentations_strong_view_config():
    """The albu recipe: strong view differs in colour, weak and strong share geometry."""
    cfg = Config.fromfile('configs/mean_teacher/'
                          'mean-teacher-albu_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py')
    data = cfg.train_dataloader.dataset
    for view in ('unsup_weak', 'unsup_strong'):  # deterministic geometry for the check
        data.unlabeled.pipeline[-1].views[view] = [
            t for t in data.unlabeled.pipeline[-1].views[view] if t['type'] != 'RandomFlip']
    steps = [t['type'] for t in data.unlabeled.pipeline[-1].views['unsup_strong']]
    assert 'ssl_dense.AlbuPhotometric' in steps and 'RandAugment' not in steps
    np.random.seed(0)
    item = _semi(data.labeled, data.unlabeled)[25]
    weak, strong = item['inputs']['unsup_weak'], item['inputs']['unsup_strong']
    assert weak.shape == strong.shape
    assert not np.array_equal(weak.numpy(), strong.numpy())
    np.testing.assert_array_equal(item['data_samples']['unsup_weak'].homography_matrix,
                                  item['data_samples']['unsup_strong'].homography_matrix)
