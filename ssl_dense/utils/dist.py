"""Distributed set-up that also works on CPU-only machines."""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

__all__ = ['setup_cpu_distributed']


def setup_cpu_distributed(cfg: Config) -> bool:
    """Start a gloo process group when a launcher is used without CUDA.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` while initialising a
    ``pytorch`` launcher and wraps models in DDP with ``device_ids`` set, both
    of which fail without CUDA. On such machines this initialises the process
    group with the gloo backend itself (the Runner then sees it is already
    distributed) and wraps the model in DDP without ``device_ids``. Nothing
    changes on machines with CUDA.

    Args:
        cfg (Config): The run config; ``launcher`` and ``model_wrapper_cfg``
            are read, and the latter is filled in when CPU DDP is needed.

    Returns:
        bool: Whether a CPU process group was set up.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available() or torch_dist.is_initialized():
        return False
    if launcher != 'pytorch':
        raise ValueError(f'launcher {launcher!r} without CUDA is not supported; use '
                         "--launcher pytorch (torchrun) for CPU training")
    torch_dist.init_process_group(backend='gloo')
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    print_log(f'No CUDA: rank {torch_dist.get_rank()} of {torch_dist.get_world_size()} uses '
              f'the gloo backend on the CPU (LOCAL_RANK={os.environ.get("LOCAL_RANK")}).',
              logger='current')
    return True
