"""tools/train.py and tools/test.py command lines, and 2-process CPU training."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.conftest import DET_CONFIG, REPO_ROOT, load_script, small_det_config

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
TEST = osp.join(REPO_ROOT, 'tools', 'test.py')


def _load_tool(name):
    return load_script(f'tools/{name}.py')


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    return env


def _small_config_file(tmp_path, max_iters=2, ckpt_interval=2):
    cfg = small_det_config(tmp_path / 'work', max_iters=max_iters, ckpt_interval=ckpt_interval)
    path = tmp_path / 'small.py'
    cfg.dump(str(path))
    return str(path)


def test_build_config_applies_cli_options(tmp_path, monkeypatch):
    train = _load_tool('train')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    args = train.parse_args([DET_CONFIG, '--work-dir', str(tmp_path), '--amp',
                             '--auto-scale-lr', '--cfg-options', 'train_cfg.max_iters=7',
                             'randomness.seed=3'])
    cfg = train.build_config(args)
    assert cfg.work_dir == str(tmp_path)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.auto_scale_lr.enable is True
    assert cfg.train_cfg.max_iters == 7 and cfg.randomness.seed == 3
    assert cfg.resume is False

    args = train.parse_args([DET_CONFIG, '--resume'])
    cfg = train.build_config(args)
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.work_dir == osp.join('./work_dirs', 'retinanet_effl0_fpn_1xb4-1k_bccd')


def test_amp_without_cuda_is_a_clear_error(monkeypatch):
    train = _load_tool('train')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(RuntimeError, match='--amp needs a CUDA device'):
        train.build_config(train.parse_args([DET_CONFIG, '--amp']))


def test_resume_path_must_exist(tmp_path):
    train = _load_tool('train')
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        train.build_config(train.parse_args([DET_CONFIG, '--resume',
                                             str(tmp_path / 'no_such.pth')]))


def test_train_resume_and_test_from_command_line(tmp_path):
    config = _small_config_file(tmp_path, max_iters=2, ckpt_interval=1)
    work = tmp_path / 'work'
    run = subprocess.run([sys.executable, TRAIN, config, '--work-dir', str(work)],
                         capture_output=True, text=True, env=_env(), cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (work / 'iter_2.pth').is_file()

    # Resume from iteration 1 up to 3 more iterations.
    run = subprocess.run([sys.executable, TRAIN, config, '--work-dir', str(work), '--resume',
                          str(work / 'iter_1.pth'), '--cfg-options', 'train_cfg.max_iters=3'],
                         capture_output=True, text=True, env=_env(), cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert 'resumed epoch: 0, iter: 1' in log
    assert 'Iter(train) [2/3]' in log and 'Iter(train) [1/3]' not in log
    assert (work / 'iter_3.pth').is_file()

    run = subprocess.run([sys.executable, TEST, config, str(work / 'iter_3.pth'),
                          '--work-dir', str(tmp_path / 'test'), '--show-dir', 'vis',
                          '--out', str(tmp_path / 'preds.pkl'),
                          # 3 iterations: scores are still low, keep every box.
                          '--cfg-options', 'model.test_cfg.score_thr=0.0',
                          'test_dataloader.dataset.indices=4',
                          'test_dataloader.num_workers=0',
                          'test_dataloader.persistent_workers=False'],
                         capture_output=True, text=True, env=_env(), cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f'Test metrics of {work / "iter_3.pth"}: coco/bbox_mAP: ' in run.stdout
    drawn = list((tmp_path / 'test').glob('*/vis/*.jpg'))
    assert len(drawn) == 4, drawn
    assert (tmp_path / 'preds.pkl').stat().st_size > 0


def test_resume_of_unsafe_checkpoint_fails_clearly(tmp_path):
    config = _small_config_file(tmp_path)
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {'iter': 1, 'hook': os.system}}, evil)
    run = subprocess.run([sys.executable, TRAIN, config, '--resume', str(evil)],
                         capture_output=True, text=True, env=_env(), cwd=REPO_ROOT)
    assert run.returncode != 0
    assert 'UnsafeCheckpointError: Refused to load checkpoint' in run.stderr
    assert '--trust-checkpoint' in run.stderr


def test_distributed_training_two_cpu_processes(tmp_path):
    config = _small_config_file(tmp_path, max_iters=2, ckpt_interval=2)
    work = tmp_path / 'dist'
    env = _env()
    env.update(PYTHON=sys.executable, PORT=str(29500 + os.getpid() % 1000))
    run = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config, '2',
                          '--work-dir', str(work)],
                         capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert 'rank 0 of 2 uses the gloo backend' in log
    assert (work / 'iter_2.pth').is_file()
    assert 'Distributed training: True' in log


def test_distributed_semi_supervised_training(tmp_path):
    """TeacherStudent, EMA hook and an adaptive threshold under 2-process DDP (gloo)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(
        REPO_ROOT, 'configs/mean_teacher/mean-teacher-adaptive_retinanet_effl0_fpn_1xb4-1k_'
        'semi-10pct-bccd.py'))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3, val_interval=10**6)
    cfg.param_scheduler = []
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.custom_hooks = [dict(type='TeacherEMAHook', burn_in_iters=1, momentum=0.9),
                        dict(type='UnsupWeightHook', burn_in_iters=1)]
    cfg.model.model.test_cfg.score_thr = 0.0
    cfg.model.threshold = dict(type='AdaptiveThreshold', floor=0.0)  # learn from every score
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.sampler.batch_size = 2
    cfg.train_dataloader.sampler.num_labeled = 1
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=3)
    cfg.default_hooks.logger.interval = 1
    config = tmp_path / 'semi.py'
    cfg.dump(str(config))
    work = tmp_path / 'dist'
    env = _env()
    env.update(PYTHON=sys.executable, PORT=str(30500 + os.getpid() % 1000))
    run = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), str(config),
                          '2', '--work-dir', str(work)],
                         capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert 'rank 0 of 2 uses the gloo backend' in log
    assert 'unsup_loss' in log
    from ssl_dense.utils import safe_torch_load
    state = safe_torch_load(str(work / 'iter_3.pth'))['state_dict']
    assert state['threshold.seen'].any()  # statistics gathered from both ranks
