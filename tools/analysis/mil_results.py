"""10-fold cross-validation of the MIL configs; write docs/results/mil.json.

For every (dataset, method, seed), the config of the method is trained on
each of the 10 folds of ``data/mil/splits/<dataset>/seed<S>`` (made by
``tools/split_bags.py``) with ``randomness.seed=<S>`` and tested on the
fold's test bags; one JSON row holds the mean over the folds::

    {"method": "abmil", "split": "musk1", "seed": 1, "accuracy": 0.891,
     "auc": 0.95, "accuracy_fold_std": 0.08, "folds": 10, "epochs": 40,
     "config": "configs/mil/abmil_musk1-10fold.py", "machine": "..."}

``split`` is the dataset; accuracy and AUC are in [0, 1]. Every fold runs in
this process with one CPU thread (the models are small; thread hand-offs
cost more than they give).

``--selection`` says which checkpoint of each fold is tested: ``last`` (the
last epoch, default) or ``val_nll``: 10 % of the fold's training bags are
held out (``data/mil/splits/<dataset>/seed<S>-val10``, the same test bags as
``seed<S>``), validated after every epoch, and the epoch with the lowest
validation NLL is tested. Rows of ``val_nll`` carry ``"selection":
"val_nll"``.

Examples::

    python tools/analysis/mil_results.py --datasets musk1 --methods abmil abmil_gated
    python tools/analysis/mil_results.py --methods ours_abmil_mhim --seeds 1 \\
        --folds 2 --epochs 1 --out /tmp/smoke.json    # a pipeline check, not a result

``python tools/analysis/results_table.py docs/results/mil.json`` prints the
README table (mean +- std over seeds of the 10-fold means).
"""
import argparse
import glob
import logging
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from results_common import MACHINE, ROOT  # noqa: E402
from results_common import upsert as _upsert  # noqa: E402

#: method -> config (written for MUSK1; other datasets swap the data, below).
METHODS: Dict[str, str] = {
    'abmil': 'configs/mil/abmil_musk1-10fold.py',
    'abmil_gated': 'configs/mil/abmil-gated_musk1-10fold.py',
    'ours_abmil_aem': 'configs/mil/abmil-aem_musk1-10fold.py',
    'ours_abmil_mhim': 'configs/mil/abmil-mhim_musk1-10fold.py',
    'transmil': 'configs/mil/transmil_musk1-10fold.py',
    'dsmil': 'configs/mil/dsmil_musk1-10fold.py',
}
for _model in ('transmil', 'dsmil'):
    for _addon in ('aem', 'mhim'):
        METHODS[f'ours_{_model}_{_addon}'] = f'configs/mil/{_model}-{_addon}_musk1-10fold.py'
#: MHIM variants whose teacher starts from the baseline's checkpoint of the
#: same fold (as MHIM-MIL does); the baseline must have run first.
for _model in ('abmil', 'transmil', 'dsmil'):
    METHODS[f'ours_{_model}_mhim_init'] = METHODS[f'ours_{_model}_mhim']
TEACHER_INIT = {f'ours_{m}_mhim_init': m for m in ('abmil', 'transmil', 'dsmil')}
#: dataset -> (data file, features per instance, clip of standardised values;
#: see configs/_base_/datasets/mil_*.py)
DATASETS = {'musk1': ('musk1.csv.gz', 166, None), 'musk2': ('musk2.csv.gz', 166, None),
            'elephant': ('elephant.csv.gz', 230, 10.0)}
FOLDS = 10
#: checkpoint selection -> split directory suffix (see the module docstring)
SELECTIONS = {'last': '', 'val_nll': '-val10'}


def fold_work_dir(work_root: str, method: str, dataset: str, seed: int, fold: int) -> str:
    return osp.join(work_root, f'{method}_{dataset}_seed{seed}', f'fold{fold}')


def fold_config(method: str, dataset: str, seed: int, fold: int, work_dir: str,
                epochs: Optional[int] = None, work_root: Optional[str] = None,
                selection: str = 'last') -> Config:
    """The config of ``method`` on ``dataset``, fold ``fold`` of split seed ``seed``."""
    cfg = Config.fromfile(osp.join(ROOT, METHODS[method]))
    if method in TEACHER_INIT:
        base_dir = fold_work_dir(work_root, TEACHER_INIT[method], dataset, seed, fold)
        if selection != 'last':
            base_dir += f'_{selection}'
        last = osp.join(base_dir, 'last_checkpoint')
        if not osp.isfile(last):
            raise FileNotFoundError(f'{method} starts its teacher from the {TEACHER_INIT[method]} '
                                    f'checkpoint of the same fold, and {last} does not exist: '
                                    f'run --methods {TEACHER_INIT[method]} first (same '
                                    '--work-root, seeds and epochs)')
        with open(last) as f:
            cfg.model.teacher_init = f.read().strip()
        best = sorted(glob.glob(osp.join(base_dir, 'best_bag_nll_*.pth')))
        if selection == 'val_nll' and best:
            cfg.model.teacher_init = best[-1]  # the baseline's selected epoch
        for hook in cfg.custom_hooks:
            if hook['type'] == 'TeacherEMAHook':
                hook['copy_at_start'] = False
    data_file, in_channels, clip = DATASETS[dataset]
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[key].dataset
        ds.data_root = osp.join(ROOT, 'data', 'mil')
        ds.data_file = data_file
        ds.split_file = f'splits/{dataset}/seed{seed}{SELECTIONS[selection]}/fold{{fold}}.csv'
        ds.in_channels = in_channels
        ds.clip = clip
        ds.fold = fold
    cfg.model.aggregator.in_channels = in_channels
    if epochs is not None:
        cfg.train_cfg.max_epochs = epochs
    if selection == 'val_nll':
        # Validate on the held-out training bags after every epoch; keep the best.
        cfg.val_dataloader.dataset.split = 'val'
        cfg.train_cfg.val_interval = 1
        cfg.default_hooks.checkpoint.update(save_best='bag/nll', rule='less')
    else:
        # Test once at the end (below), no validation during training.
        cfg.train_cfg.val_interval = cfg.train_cfg.max_epochs + 1
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{method}_{dataset}_seed{seed}_fold{fold}'
    cfg.log_level = 'WARNING'
    return cfg


def run(method: str, dataset: str, seed: int, work_root: str, folds: int = FOLDS,
        epochs: Optional[int] = None, selection: str = 'last') -> dict:
    """Cross-validate one (method, dataset, seed); return its results row."""
    per_fold = []
    for fold in range(folds):
        work_dir = fold_work_dir(work_root, method, dataset, seed, fold)
        if selection != 'last':
            work_dir += f'_{selection}'
        cfg = fold_config(method, dataset, seed, fold, work_dir, epochs, work_root, selection)
        runner = Runner.from_cfg(cfg)
        runner.train()
        if selection == 'val_nll':
            best = runner.message_hub.get_info('best_ckpt')
            runner.load_checkpoint(best)
            print(f'   fold {fold}: testing {osp.basename(best)} (lowest val NLL)', flush=True)
        metrics = runner.test()
        per_fold.append(metrics)
        print(f'   fold {fold}: accuracy {metrics["bag/accuracy"]:.3f} auc '
              f'{metrics["bag/auc"]:.3f}', flush=True)
        MMLogger.get_instance(runner.experiment_name).handlers.clear()
    acc = [m['bag/accuracy'] for m in per_fold]
    auc = [m['bag/auc'] for m in per_fold if m['bag/auc'] == m['bag/auc']]  # skip NaN
    cfg = Config.fromfile(osp.join(ROOT, METHODS[method]))
    extra = {} if selection == 'last' else dict(selection=selection)
    return dict(method=method, split=dataset, seed=seed, **extra,
                accuracy=round(statistics.fmean(acc), 4),
                auc=round(statistics.fmean(auc), 4) if auc else None,
                accuracy_fold_std=round(statistics.stdev(acc), 4) if len(acc) > 1 else 0.0,
                folds=folds, epochs=epochs or cfg.train_cfg.max_epochs,
                config=METHODS[method], machine=MACHINE)


def main(argv=None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument('--datasets', nargs='+', default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[1, 2, 3])
    parser.add_argument('--folds', type=int, default=FOLDS,
                        help='use the first N folds (pipeline checks only; not a result)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='shorten training (pipeline checks only; not a result)')
    parser.add_argument('--selection', choices=list(SELECTIONS), default='last',
                        help='which checkpoint of each fold is tested (see above)')
    parser.add_argument('--out', default=osp.join(ROOT, 'docs', 'results', 'mil.json'))
    parser.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs', 'results', 'mil'))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    rows = []
    for dataset in args.datasets:
        for method in args.methods:
            for seed in args.seeds:
                print(f'== {method} {dataset} seed {seed}', flush=True)
                row = run(method, dataset, seed, args.work_root, args.folds, args.epochs,
                          args.selection)
                _upsert(args.out, row,
                        key=('method', 'split', 'seed', 'folds', 'epochs', 'selection'))
                print(f'   accuracy {row["accuracy"]:.3f} (folds +- '
                      f'{row["accuracy_fold_std"]:.3f})  auc {row["auc"]}', flush=True)
                rows.append(row)
    return rows


if __name__ == '__main__':
    main()
