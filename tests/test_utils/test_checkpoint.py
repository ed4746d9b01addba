"""Resume and load_from under torch>=2.6 with weights_only=True kept on."""
import os
import pickle

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from ssl_dense.utils import (TRUSTED_CHECKPOINTS_ENV, UnsafeCheckpointError,
                             checkpoint_safe_types, safe_torch_load)
from tests.conftest import small_det_config


def _model_state(runner):
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


class _StateAtStart(Hook):
    """Record iteration and weights when (resumed) training starts."""

    def before_train(self, runner):
        self.iter = runner.iter
        self.state = _model_state(runner)
        optim = runner.optim_wrapper.optimizer
        self.momentum = {i: s['momentum_buffer'].clone() for i, s in
                         enumerate(optim.state.values()) if 'momentum_buffer' in s}


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory):
    """6 iterations without interruption, checkpoints every 3."""
    work = tmp_path_factory.mktemp('straight')
    cfg = small_det_config(work, max_iters=6, ckpt_interval=3)
    cfg.experiment_name = 'straight'
    runner = Runner.from_cfg(cfg)
    runner.train()
    return work, _model_state(runner)


def test_torch_default_refuses_mmengine_checkpoint(straight_run):
    # The problem this module solves: plain torch.load (weights_only=True
    # default) cannot read what mmengine writes.
    work, _ = straight_run
    assert torch.__version__ >= '2.6'
    with pytest.raises(pickle.UnpicklingError):
        torch.load(work / 'iter_3.pth', weights_only=True)
    ckpt = safe_torch_load(str(work / 'iter_3.pth'))
    assert ckpt['meta']['iter'] == 3 and 'message_hub' in ckpt


def test_resume_continues_from_saved_iteration_with_identical_weights(straight_run, tmp_path):
    work, final_state = straight_run
    saved = safe_torch_load(str(work / 'iter_3.pth'))
    cfg = small_det_config(tmp_path, max_iters=6, ckpt_interval=3)
    cfg.experiment_name = 'resumed'
    cfg.resume = True
    cfg.load_from = str(work / 'iter_3.pth')
    probe = _StateAtStart()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(probe)
    runner.train()

    assert probe.iter == 3
    for key, value in saved['state_dict'].items():
        torch.testing.assert_close(probe.state[key], value, rtol=0, atol=0)
    saved_momentum = [s['momentum_buffer'] for s in saved['optimizer']['state'].values()]
    assert len(probe.momentum) == len(saved_momentum) > 0
    for got, want in zip(probe.momentum.values(), saved_momentum):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert runner.iter == 6
    # Same data order and weights: the resumed run ends where the straight one did.
    for key, value in final_state.items():
        torch.testing.assert_close(_model_state(runner)[key], value, rtol=1e-5, atol=1e-6)


def test_load_from_only_loads_weights(straight_run, tmp_path):
    work, _ = straight_run
    cfg = small_det_config(tmp_path, max_iters=1, ckpt_interval=100)
    cfg.experiment_name = 'load_from'
    cfg.load_from = str(work / 'iter_6.pth')
    probe = _StateAtStart()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(probe)
    runner.train()
    saved = safe_torch_load(str(work / 'iter_6.pth'))
    assert probe.iter == 0
    for key, value in saved['state_dict'].items():
        torch.testing.assert_close(probe.state[key], value, rtol=0, atol=0)


def _checkpoint_with_callable(path):
    torch.save({'state_dict': {'w': torch.zeros(2)},
                'meta': {'iter': 1, 'callback': os.system}}, path)


def test_pickled_callable_is_refused_with_instructions(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUSTED_CHECKPOINTS_ENV, raising=False)
    path = tmp_path / 'evil.pth'
    _checkpoint_with_callable(path)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(str(path))
    message = str(info.value)
    assert str(path) in message
    assert 'system' in message  # names the offending global
    assert 'arbitrary code' in message
    assert '--trust-checkpoint' in message and TRUSTED_CHECKPOINTS_ENV in message
    assert os.system not in checkpoint_safe_types()


def test_trusted_file_loads(tmp_path, monkeypatch):
    path = tmp_path / 'trusted.pth'
    _checkpoint_with_callable(path)
    monkeypatch.setenv(TRUSTED_CHECKPOINTS_ENV, str(path))
    assert safe_torch_load(str(path))['meta']['callback'] is os.system
    # Trust is per file: another file with the same content is still refused.
    other = tmp_path / 'other.pth'
    _checkpoint_with_callable(other)
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(str(other))


def test_runner_resume_refuses_unsafe_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUSTED_CHECKPOINTS_ENV, raising=False)
    path = tmp_path / 'evil.pth'
    _checkpoint_with_callable(path)
    cfg = small_det_config(tmp_path / 'work', max_iters=1)
    cfg.experiment_name = 'refuse'
    cfg.resume = True
    cfg.load_from = str(path)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(UnsafeCheckpointError, match='Refused to load checkpoint'):
        runner.train()


class _GetattrGadget:
    """Pickles as getattr(HistoryBuffer, '__init__'): a lookup outside the allow-list."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return getattr, (HistoryBuffer, '__init__')


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path, monkeypatch):
    from mmengine.logging import HistoryBuffer
    monkeypatch.delenv(TRUSTED_CHECKPOINTS_ENV, raising=False)
    buffer = HistoryBuffer()
    buffer.update(1.5)
    good = tmp_path / 'good.pth'
    torch.save({'hub': buffer}, good)
    loaded = safe_torch_load(str(good))['hub']
    assert loaded.current() == 1.5 and loaded.mean() == 1.5

    bad = tmp_path / 'bad.pth'
    torch.save({'x': _GetattrGadget()}, bad)
    with pytest.raises(UnsafeCheckpointError, match="'__init__'"):
        safe_torch_load(str(bad))


def test_message_hub_with_empty_and_filled_buffers_loads(tmp_path):
    """A HistoryBuffer that was never updated (empty numpy arrays) stays loadable."""
    from mmengine.logging import HistoryBuffer

    from ssl_dense.utils.checkpoint import safe_torch_load
    filled = HistoryBuffer()
    filled.update(0.5)
    path = tmp_path / 'hub.pth'
    torch.save(dict(state_dict={'w': torch.ones(1)},
                    message_hub=dict(log_scalars={'empty': HistoryBuffer(), 'loss': filled})),
               path)
    ckpt = safe_torch_load(str(path))
    assert len(ckpt['message_hub']['log_scalars']['empty'].data[0]) == 0
    assert ckpt['message_hub']['log_scalars']['loss'].current() == 0.5
