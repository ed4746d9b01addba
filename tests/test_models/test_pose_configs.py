"""The bee pose configs build, and the full Teacher-Reviewer-Student config
trains end to end with tools/train.py on real bee images."""
import glob
from unittest.mock import patch

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ssl_dense.registry import MODELS
from tests.conftest import REPO_ROOT, load_script

CONFIGS = sorted(glob.glob('configs/trs/*.py') + glob.glob('configs/topdown_heatmap/*.py'))


@pytest.mark.parametrize('config', CONFIGS)
def test_pose_config_builds(config):
    cfg = Config.fromfile(config)
    init_default_scope('ssl_dense')
    model = MODELS.build(cfg.model)
    student = getattr(model, 'student', model)
    coco = 'coco-person' in config
    assert student.head.out_channels == (17 if coco else 32)
    assert student.head.decoder is not None
    # Every config trains on the split its name gives.
    split = next((s for s in ('10pct', '30pct') if s in config), '10pct' if coco else None)
    stem = 'person_keypoints_train2017' if coco else 'bee_pose_train'
    data = cfg.train_dataloader.dataset
    if 'trs/' in config:
        assert f'{stem}.{split}.seed1.labeled' in data.labeled.ann_file
        assert f'{stem}.{split}.seed1.unlabeled' in data.unlabeled.ann_file
        assert data.unlabeled.unlabeled is True
    elif split:
        assert f'bee_pose_train.{split}.seed1.labeled' in data.ann_file
    else:
        assert data.ann_file.endswith('bee_pose_train.json')
    if 'trs_' in config or 'kpmix' in config:
        assert type(model.strong_batch_augments[0]).__name__ == 'KeypointMix'
    if 'trs_' in config or 'mlfl' in config:
        assert type(student.head).__name__ == 'MultiLevelHeatmapHead'
    if 'trs_' in config or 'reviewer' in config:
        assert any(h['type'] == 'ReviewerHook' for h in cfg.custom_hooks)
        assert model.adapter.reviewer_weight > 0


@pytest.mark.parametrize('variant', ['trs', 'trs-soft'])
def test_full_trs_config_trains_on_real_bee_images(tmp_path, variant):
    """Three iterations past a one-iteration burn-in; the soft-target variant
    with threshold 0 so that warped teacher heatmaps reach the loss."""
    extra = ['model.threshold.thr=0.0'] if variant == 'trs-soft' else []
    load_script('tools/dataset_converters/bee_pose_to_coco.py').main(
        [f'{REPO_ROOT}/tests/data/bee_pose', '--dst', str(tmp_path / 'bee'), '--copy'])
    work = tmp_path / 'work'
    load_script('tools/train.py').main([
        f'configs/trs/{variant}_td-hm_effl0_1xb16-1k_semi-10pct-bee.py', '--work-dir', str(work),
        '--cfg-options', f'train_dataloader.dataset.labeled.data_root={tmp_path}/bee/',
        f'train_dataloader.dataset.unlabeled.data_root={tmp_path}/bee/',
        f'val_dataloader.dataset.data_root={tmp_path}/bee/',
        f'test_dataloader.dataset.data_root={tmp_path}/bee/',
        f'val_evaluator.1.ann_file={tmp_path}/bee/annotations/bee_pose_test.json',
        f'test_evaluator.1.ann_file={tmp_path}/bee/annotations/bee_pose_test.json',
        'train_dataloader.batch_size=4', 'train_dataloader.sampler.batch_size=4',
        'train_dataloader.sampler.num_labeled=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'train_cfg.max_iters=3',
        'train_cfg.val_interval=3', 'custom_hooks.0.burn_in_iters=1',
        'custom_hooks.1.burn_in_iters=1', 'custom_hooks.1.ramp_iters=1',
        'custom_hooks.3.interval=1', 'custom_hooks.3.start_iter=1',
        'default_hooks.logger.interval=1', *extra])
    ckpt = torch.load(work / 'iter_3.pth', map_location='cpu', weights_only=False)
    assert any(k.startswith('teacher.head.sides.') for k in ckpt['state_dict'])
    log = open(sorted(glob.glob(f'{work}/*/*.log'))[-1]).read()
    assert 'unsup_loss_reviewer' in log and 'teacher/PCK' in log
    if variant == 'trs-soft':
        last = [line for line in log.splitlines() if 'Iter(train) [3/3]' in line][-1]
        assert float(last.split('unsup_loss_kpt: ')[1].split()[0]) > 0


COCO = f'{REPO_ROOT}/tests/data/coco_pose_sample'


def test_coco_person_trs_config_trains_on_real_coco_images(tmp_path):
    """COCO compatibility: the full TRS config on COCO person keypoints (mmpose's
    17-keypoint meta), unlabeled people cropped from their boxes, through
    tools/train.py and validation with the COCO metric."""
    from ssl_dense.datasets import PoseCocoDataset
    init_default_scope('mmpose')
    people = PoseCocoDataset(data_root=COCO, ann_file='test_coco.json', data_prefix=dict(img=''),
                             metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
                             unlabeled=True, unlabeled_boxes='annotation')
    assert len(people) == 14  # every person box of the 4 images, not one per image
    with pytest.raises(ValueError, match="unlabeled_boxes must be 'image' or 'annotation'"):
        PoseCocoDataset(data_root=COCO, ann_file='test_coco.json', unlabeled=True,
                        unlabeled_boxes='detector')
    import json
    bare = json.load(open(f'{COCO}/test_coco.json'))
    bare['annotations'] = []
    (tmp_path / 'bare.json').write_text(json.dumps(bare))
    with pytest.raises(ValueError, match=r"bare.json: unlabeled_boxes='annotation' but no image "
                                         r'has a \(non-crowd\) box'):
        PoseCocoDataset(data_root=COCO, ann_file=str(tmp_path / 'bare.json'),
                        data_prefix=dict(img=''),
                        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
                        unlabeled=True, unlabeled_boxes='annotation')
    assert {p['img_id'] for p in people} == {785, 40083, 196141, 197388}
    # A box clipped to nothing at the image border (e.g. from a detector) is
    # skipped with a warning naming it, not a singular crop transform later.
    edge = json.load(open(f'{COCO}/test_coco.json'))
    image = edge['images'][0]
    edge['annotations'][0].update(image_id=image['id'], iscrowd=0,
                                  bbox=[image['width'] - 1, image['height'] - 1, 0, 0])
    (tmp_path / 'edge.json').write_text(json.dumps(edge))
    with patch('ssl_dense.datasets.pose.print_log') as warn:
        edged = PoseCocoDataset(data_root=COCO, ann_file=str(tmp_path / 'edge.json'),
                                data_prefix=dict(img=''),
                                metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
                                unlabeled=True, unlabeled_boxes='annotation')
    assert len(edged) == 13
    assert 'skipped 1 unlabeled boxes under one pixel' in str(warn.call_args)
    assert f'annotation {edge["annotations"][0]["id"]}' in str(warn.call_args)
    work = tmp_path / 'work'
    ann = f'{COCO}/test_coco.json'
    load_script('tools/train.py').main([
        'configs/trs/trs_td-hm_effl0_1xb16-1k_semi-coco-person.py', '--work-dir', str(work),
        '--cfg-options', f'train_dataloader.dataset.labeled.data_root={COCO}/',
        f'train_dataloader.dataset.unlabeled.data_root={COCO}/',
        f'train_dataloader.dataset.labeled.ann_file={ann}',
        f'train_dataloader.dataset.unlabeled.ann_file={ann}',
        'train_dataloader.dataset.labeled.data_prefix.img=',
        'train_dataloader.dataset.unlabeled.data_prefix.img=',
        f'val_dataloader.dataset.data_root={COCO}/', f'val_dataloader.dataset.ann_file={ann}',
        'val_dataloader.dataset.data_prefix.img=', f'test_dataloader.dataset.data_root={COCO}/',
        f'test_dataloader.dataset.ann_file={ann}', 'test_dataloader.dataset.data_prefix.img=',
        f'val_evaluator.1.ann_file={ann}', f'test_evaluator.1.ann_file={ann}',
        'train_dataloader.batch_size=4', 'train_dataloader.sampler.batch_size=4',
        'train_dataloader.sampler.num_labeled=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2', 'custom_hooks.0.burn_in_iters=1',
        'custom_hooks.1.burn_in_iters=1', 'custom_hooks.1.ramp_iters=1',
        'custom_hooks.3.interval=1', 'custom_hooks.3.start_iter=1',
        'model.threshold.thr=0.0', 'default_hooks.logger.interval=1'])
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['state_dict']['student.head.final_layer.weight'].shape[0] == 17
    log = open(sorted(glob.glob(f'{work}/*/*.log'))[-1]).read()
    last = [line for line in log.splitlines() if 'Iter(train) [2/2]' in line][-1]
    assert float(last.split('unsup_loss_kpt: ')[1].split()[0]) > 0
    assert 'teacher/coco/AP' in log
