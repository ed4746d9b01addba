"""Registries: scope, parents, lazy locations, and user plugins via custom_imports."""
import textwrap

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.runner import Runner

from ssl_dense import registry
from tests.conftest import small_det_config


def test_registries_are_scoped_children_of_mmengine():
    for name in registry.__all__:
        reg = getattr(registry, name)
        assert reg.scope == 'ssl_dense', name
        if name == 'THRESHOLDS':  # ours alone: mmengine has no such registry
            assert reg.parent is None
            continue
        assert reg.parent is not None and reg.parent.scope == 'mmengine', name
    assert MMENGINE_MODELS._children['ssl_dense'] is registry.MODELS
    assert MMENGINE_HOOKS._children['ssl_dense'] is registry.HOOKS


def test_lookup_across_scopes():
    # Our backbone by prefix from mmdet's registry, and mmdet's detector from ours.
    from mmdet.registry import MODELS as MMDET_MODELS
    from ssl_dense.models import EfficientNetLite
    assert MMDET_MODELS.get('ssl_dense.EfficientNetLite') is EfficientNetLite
    assert registry.MODELS.get('mmdet.RetinaNet').__name__ == 'RetinaNet'
    # mmengine's own modules resolve through the parent.
    assert registry.HOOKS.get('CheckpointHook').__name__ == 'CheckpointHook'


def test_duplicate_registration_is_refused():
    @registry.HOOKS.register_module(name='_DuplicateProbeHook')
    class A:
        pass

    with pytest.raises(KeyError, match='_DuplicateProbeHook'):
        @registry.HOOKS.register_module(name='_DuplicateProbeHook')
        class B:
            pass

    registry.HOOKS._module_dict.pop('_DuplicateProbeHook')


USER_MODULE = '''
    """A user's own hook, in a module outside ssl_dense."""
    import json

    from mmengine.hooks import Hook

    from ssl_dense.registry import HOOKS


    @HOOKS.register_module()
    class IterRecorderHook(Hook):
        """Write the iterations it saw to a JSON file after training."""

        def __init__(self, out_file):
            self.out_file = out_file
            self.iters = []

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.iters.append(runner.iter)
            assert 'loss' in outputs

        def after_train(self, runner):
            with open(self.out_file, 'w') as f:
                json.dump(self.iters, f)
'''


def test_user_hook_from_custom_imports(tmp_path, monkeypatch):
    """A user's module, outside the package, plugged in from a config file."""
    plugin_dir = tmp_path / 'plugins'
    plugin_dir.mkdir()
    (plugin_dir / 'my_project_hooks.py').write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(plugin_dir))
    out_file = tmp_path / 'iters.json'

    small_det_config(tmp_path / 'work', max_iters=3, ckpt_interval=100).dump(
        str(tmp_path / 'small.py'))
    (tmp_path / 'user_config.py').write_text(textwrap.dedent(f"""
        _base_ = ['./small.py']
        custom_imports = dict(imports=['my_project_hooks'], allow_failed_imports=False)
        custom_hooks = [dict(type='IterRecorderHook', out_file={str(out_file)!r})]
        experiment_name = 'user_hook'
    """))
    cfg = Config.fromfile(str(tmp_path / 'user_config.py'))
    runner = Runner.from_cfg(cfg)
    assert DefaultScope.get_current_instance().scope_name == 'ssl_dense'
    runner.train()
    assert out_file.read_text() == '[0, 1, 2]'
