"""The bee pose configs build, and the full Teacher-Reviewer-Student config
trains end to end with tools/train.py on real bee images."""
import glob

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
    assert student.head.out_channels == 32
    assert student.head.decoder is not None
    # Every config trains on the split its name gives.
    split = next((s for s in ('10pct', '30pct') if s in config), None)
    data = cfg.train_dataloader.dataset
    if 'trs/' in config:
        assert f'bee_pose_train.{split}.seed1.labeled' in data.labeled.ann_file
        assert f'bee_pose_train.{split}.seed1.unlabeled' in data.unlabeled.ann_file
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
