import os
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA_DIR = osp.join(REPO_ROOT, 'tests', 'data')
# Keep each test process to one thread: the machines have 2 cores and tests
# that start subprocesses would otherwise oversubscribe them.
os.environ.setdefault('OMP_NUM_THREADS', '1')


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    """Configs use paths relative to the repository root (data/bccd/...)."""
    monkeypatch.chdir(REPO_ROOT)
    yield


if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

DET_CONFIG = 'configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd.py'


def small_det_config(work_dir, max_iters: int = 4, ckpt_interval: int = 2):
    """The BCCD RetinaNet config, shrunk to a few deterministic CPU iterations.

    Random flips are removed and data loading runs in the main process, so two
    runs with the same seed see the same batches.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, DET_CONFIG))
    cfg.work_dir = str(work_dir)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10**6)
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                                end=max_iters)]
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.dataset.pipeline = [
        t for t in cfg.train_dataloader.dataset.pipeline if t['type'] != 'RandomFlip']
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                        interval=ckpt_interval, max_keep_ckpts=10)
    cfg.default_hooks.logger.interval = 1
    cfg.log_processor.window_size = 1
    cfg.randomness = dict(seed=0)
    return cfg


def load_script(relpath: str):
    """Import a script of the repository (tools/..., demo/...) as a module."""
    import importlib.util
    name = '_script_' + relpath.replace('/', '_').replace('.', '_')
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO_ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def bee_root(tmp_path_factory):
    """The four bee fixture images converted to COCO keypoints (with splits),
    as tools/dataset_converters/bee_pose_to_coco.py writes data/bee_pose."""
    dst = tmp_path_factory.mktemp('bee') / 'bee_pose'
    load_script('tools/dataset_converters/bee_pose_to_coco.py').main(
        [osp.join(DATA_DIR, 'bee_pose'), '--dst', str(dst), '--copy'])
    return dst
