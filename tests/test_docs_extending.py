"""docs/extending.md: its code blocks, copied as they are into a user's
package outside ssl_dense, plug in through custom_imports and train."""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from tests.conftest import REPO_ROOT

DOC = osp.join(REPO_ROOT, 'docs', 'extending.md')


def _doc_files():
    """``{relative path: source}`` of the doc's python blocks whose first
    line names a file (``# my_project/hooks.py``)."""
    text = open(DOC, encoding='utf-8').read()
    blocks = re.findall(r'```python\n# (\S+\.py)\n(.*?)```', text, flags=re.S)
    return {name: f'# {name}\n{body}' for name, body in blocks}


@pytest.fixture
def user_project(tmp_path, monkeypatch):
    files = _doc_files()
    assert set(files) == {'my_project/thresholds.py', 'my_project/augments.py',
                          'my_project/hooks.py', 'my_config.py'}
    (tmp_path / 'my_project').mkdir()
    (tmp_path / 'my_project' / '__init__.py').write_text('')
    for name, source in files.items():
        if name == 'my_config.py':  # the doc runs it from the repository's root
            source = source.replace("'configs/", repr(REPO_ROOT + '/')[:-1] + 'configs/')
        (tmp_path / name).write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _small(cfg, work_dir, iters):
    """The doc's config shrunk to a few CPU iterations with one burn-in step."""
    cfg.work_dir = str(work_dir)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=10**6)
    cfg.param_scheduler = []
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    for hook in cfg.custom_hooks:
        if hook.type in ('TeacherEMAHook', 'UnsupWeightHook'):
            hook.burn_in_iters = 1
        if hook.type == 'UnsupWeightHook':
            hook.ramp_iters = 0
        if hook.type == 'PseudoLabelWatchdogHook':
            hook.patience = 2
    cfg.model.model.test_cfg.score_thr = 0.0
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters)
    cfg.experiment_name = f'extending_{work_dir.name}'
    return cfg


def test_doc_parts_train_log_and_checkpoint(user_project, caplog):
    cfg = Config.fromfile(str(user_project / 'my_config.py'))
    assert [h.type for h in cfg.custom_hooks][-1] == 'PseudoLabelWatchdogHook'
    # No prediction reaches a threshold of 1: the watchdog must speak.
    cfg.model.threshold.update(low=1.0, high=1.0, init=1.0)
    runner = Runner.from_cfg(_small(cfg, user_project / 'work', iters=4))
    policy = runner.model.threshold
    assert type(policy).__name__ == 'ClassQuantileThreshold' and policy.num_classes == 3
    assert type(runner.model.strong_batch_augments[0]).__name__ == 'BatchRandomErasing'
    logger = MMLogger.get_current_instance()  # the runner's; not a child of the root logger
    logger.addHandler(caplog.handler)
    try:
        runner.train()
    finally:
        logger.removeHandler(caplog.handler)
    warnings = [r.getMessage() for r in caplog.records if 'no pseudo label' in r.getMessage()]
    assert len(warnings) == 1 and 'thresholds per class [1.0, 1.0, 1.0]' in warnings[0]
    # The policy learnt from the teacher's boxes (below the init of 1.0), is
    # logged per class and is saved in the checkpoint.
    assert (policy.thr < 1.0).any()
    assert 'train/thr_RBC' in runner.message_hub.log_scalars
    saved = torch.load(user_project / 'work' / 'iter_4.pth', weights_only=False)['state_dict']
    torch.testing.assert_close(saved['threshold.thr'], policy.thr)


def test_doc_augmentation_erases_some_images_and_keeps_pseudo_labels(user_project):
    import importlib
    augments = importlib.import_module('my_project.augments')
    torch.manual_seed(0)
    inputs = torch.ones(16, 3, 32, 48)
    pseudo = [object() for _ in range(16)]
    out, kept = augments.BatchRandomErasing(prob=0.5, area=(0.1, 0.1))(inputs, pseudo)
    assert kept is pseudo and torch.equal(inputs, torch.ones_like(inputs))  # input untouched
    erased = (out == 0).flatten(1).float().mean(1)
    assert 0 < int((erased > 0).sum()) < 16
    # Each erased image lost about a tenth of its pixels (rounding down).
    assert torch.all((erased == 0) | ((erased > 0.07) & (erased <= 0.1)))
