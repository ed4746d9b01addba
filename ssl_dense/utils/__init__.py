from .checkpoint import (TRUSTED_CHECKPOINTS_ENV, UnsafeCheckpointError,
                         checkpoint_safe_types, pretrained_path,
                         register_checkpoint_safe_types, safe_torch_load,
                         trust_checkpoint_file)
from .dist import setup_cpu_distributed
from .setup_env import load_tool_config, register_all_modules, set_fold
from .typing_utils import (ConfigType, MultiConfig, OptConfigType,
                           OptMultiConfig)

__all__ = [
    'register_all_modules', 'load_tool_config', 'ConfigType', 'OptConfigType', 'MultiConfig',
    'OptMultiConfig', 'UnsafeCheckpointError', 'TRUSTED_CHECKPOINTS_ENV',
    'checkpoint_safe_types', 'register_checkpoint_safe_types', 'safe_torch_load',
    'pretrained_path', 'trust_checkpoint_file', 'setup_cpu_distributed', 'set_fold'
]
