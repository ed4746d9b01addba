"""Train a model from an mmengine config.

Examples::

    python tools/train.py configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd.py
    python tools/train.py CONFIG --work-dir work_dirs/run1 --resume
    python tools/train.py CONFIG --resume work_dirs/run1/iter_500.pth
    python tools/train.py CONFIG --cfg-options train_cfg.max_iters=100 randomness.seed=1
    bash tools/dist_train.sh CONFIG 2          # 2 processes on one machine
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import ssl_dense  # noqa: F401  (installs the weights_only checkpoint loader)
from ssl_dense.utils import (load_tool_config, register_all_modules, setup_cpu_distributed,
                             trust_checkpoint_file)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model with ssl_dense')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints; default '
                        'work_dirs/<config name>')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by total batch / base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint; without a path, resume from the '
                        'latest checkpoint in the work dir')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow the --resume / load_from checkpoint to be unpickled with '
                        'weights_only=False. Only for files you trust: unpickling can run '
                        'arbitrary code')
    parser.add_argument('--fold', type=int,
                        help='cross-validation fold for configs whose datasets take one (MIL); '
                        'the default work dir gets a fold<K> subfolder')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_iters=100; '
                        'key=[a,b] for lists, key="(a,b)" for tuples, no spaces inside')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Merge the command-line options into the config."""
    cfg = load_tool_config(args)

    if args.amp:
        if not torch.cuda.is_available():
            raise RuntimeError('--amp needs a CUDA device (mmengine\'s AmpOptimWrapper uses '
                               'torch.cuda.amp), and torch.cuda.is_available() is False here. '
                               'Train without --amp on this machine.')
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP is already enabled in the config.')
        else:
            if optim_wrapper != 'OptimWrapper':
                raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, got '
                                 f'{optim_wrapper!r} in {args.config}')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if cfg.get('auto_scale_lr', {}).get('base_batch_size') is None:
            raise KeyError(f'--auto-scale-lr needs auto_scale_lr.base_batch_size in '
                           f'{args.config}')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume {args.resume}: no such checkpoint file')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.trust_checkpoint:
        if not cfg.get('load_from'):
            raise ValueError('--trust-checkpoint needs a checkpoint: give --resume PATH or '
                             'set load_from')
        trust_checkpoint_file(cfg.load_from)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    cfg = build_config(args)
    setup_cpu_distributed(cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
