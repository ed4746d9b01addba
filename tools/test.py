"""Evaluate a checkpoint on the test set of a config.

Examples::

    python tools/test.py CONFIG work_dirs/run1/best_coco_bbox_mAP_iter_2000.pth
    python tools/test.py CONFIG CHECKPOINT --out results.pkl --show-dir vis
    # cross-validation (MIL): every fold's checkpoint, metrics per fold and
    # mean +- std over the folds
    python tools/test.py configs/mil/abmil_musk1-10fold.py \
        'work_dirs/abmil_musk1-10fold/fold{fold}/epoch_40.pth' --folds 10
"""
import argparse
import copy
import os
import os.path as osp
import statistics

from mmengine.config import DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import ssl_dense  # noqa: F401  (installs the weights_only checkpoint loader)
from ssl_dense.utils import (load_tool_config, register_all_modules, setup_cpu_distributed,
                             trust_checkpoint_file)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a model with ssl_dense')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file; with --folds, a pattern with '
                        '{fold}')
    parser.add_argument('--fold', type=int,
                        help='cross-validation fold for configs whose datasets take one (MIL)')
    parser.add_argument('--folds', type=int,
                        help='test folds 0..N-1 (checkpoint pattern with {fold}) and report '
                        'each fold and the mean +- std')
    parser.add_argument('--work-dir', help='directory for the evaluation logs and metrics')
    parser.add_argument('--out', help='dump raw predictions to this pickle file (with --folds: '
                        'one file per fold, at OUT with {fold} filled or _fold<K> added)')
    parser.add_argument('--show-dir', help='save images with drawn predictions to this '
                        'directory, inside the work dir (detection and segmentation configs)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow the checkpoint to be unpickled with weights_only=False. '
                        'Only for files you trust: unpickling can run arbitrary code')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. test_dataloader.batch_size=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    if args.folds is None:
        return test_one(args)
    if '{fold}' not in args.checkpoint:
        raise ValueError(f'--folds needs a checkpoint pattern with {{fold}}, got '
                         f'{args.checkpoint}')
    per_fold = []
    for fold in range(args.folds):
        fold_args = copy.copy(args)
        fold_args.fold = fold
        fold_args.checkpoint = args.checkpoint.format(fold=fold)
        if args.work_dir:
            fold_args.work_dir = osp.join(args.work_dir, f'fold{fold}')
        if args.out:
            fold_args.out = fold_path(args.out, fold)
        per_fold.append(test_one(fold_args))
    summary = fold_summary(per_fold)
    print(f'Cross-validation over {args.folds} folds of {args.checkpoint}:')
    for fold, metrics in enumerate(per_fold):
        values = '  '.join(f'{k}: {v:.4f}' for k, v in metrics.items() if isinstance(v, float))
        print(f'  fold {fold}: {values}')
    values = '  '.join(f'{k}: {m:.4f} +- {sd:.4f}' for k, (m, sd) in summary.items())
    print(f'  mean +- std: {values}')
    return dict(folds=per_fold, mean={k: m for k, (m, _) in summary.items()},
                std={k: sd for k, (_, sd) in summary.items()})


def fold_path(path: str, fold: int) -> str:
    """``path`` for one fold: its ``{fold}`` filled, or ``_fold<K>`` added
    before the extension."""
    if '{fold}' in path:
        return path.format(fold=fold)
    root, ext = osp.splitext(path)
    return f'{root}_fold{fold}{ext}'


def fold_summary(per_fold: list) -> dict:
    """``metric -> (mean, sample std)`` over folds, for float metrics every
    fold reports."""
    keys = [k for k, v in per_fold[0].items() if isinstance(v, float)]
    out = {}
    for key in keys:
        values = [m[key] for m in per_fold if key in m]
        if len(values) == len(per_fold):
            out[key] = (statistics.fmean(values),
                        statistics.stdev(values) if len(values) > 1 else 0.0)
    return out


def draw_predictions(cfg, show_dir: str, config: str) -> None:
    """Turn on the task's visualization hook so that every test image is
    drawn with its predictions: detection into
    ``<work_dir>/<timestamp>/<show_dir>``, segmentation (mmseg's hook, added
    when the config names none) into ``<work_dir>/<show_dir>/vis_data/
    vis_image``."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        if 'Seg' not in str(cfg.get('visualizer', {}).get('type', '')):
            raise KeyError(f'--show-dir needs default_hooks.visualization in {config} (the '
                           'detection configs have it, segmentation configs get one); to draw '
                           'pose predictions run demo/image_demo.py on the test images (mmpose\'s '
                           'visualizer needs torchvision)')
        cfg.default_hooks.visualization = dict(type='mmseg.SegVisualizationHook')
        hook = cfg.default_hooks.visualization  # the config's copy
    if 'SegVisualizationHook' in hook['type']:
        hook.update(draw=True, interval=1)
        cfg.visualizer.save_dir = osp.join(cfg.work_dir, show_dir)
    else:  # mmdet's DetVisualizationHook
        hook.update(draw=True, test_out_dir=show_dir)


def test_one(args: argparse.Namespace) -> dict:
    """Evaluate ``args.checkpoint`` on the test set of ``args.config``."""
    cfg = load_tool_config(args)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg.load_from = args.checkpoint
    if cfg.get('model', {}).get('teacher_init'):
        # An MHIM teacher started from a baseline checkpoint: the checkpoint
        # under test holds the trained teacher, so the baseline is not needed.
        cfg.model.teacher_init = None
    if args.trust_checkpoint:
        trust_checkpoint_file(args.checkpoint)

    if args.show_dir:
        draw_predictions(cfg, args.show_dir, args.config)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) \
            else list(cfg.test_evaluator)
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))

    setup_cpu_distributed(cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    metrics = runner.test()
    if metrics:
        summary = '  '.join(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}'
                            for k, v in metrics.items())
        print(f'Test metrics of {args.checkpoint}: {summary}')
    else:
        print(f'No test metrics for {args.checkpoint}: the evaluator returned none '
              '(e.g. no prediction passed the score threshold).')
    return metrics


if __name__ == '__main__':
    main()
