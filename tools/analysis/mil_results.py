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

``ours_dsmil_select`` is a variant chosen without reading test bags (nested
cross-validation): for each dataset and split seed, every candidate of
``SELECTED`` trains on the ``seed<S>-val10`` folds (90 % of each fold's
training bags, last epoch) and is validated on the held-out 10 %; the
candidate with the lowest validation NLL pooled over the 10 folds (about as
many validation bags as the dataset has) is chosen, and its ordinary row
(whole training folds, last epoch, the test folds) is the selected row. The
row names the choice (``chosen``) and every candidate's validation NLL and
accuracy (``candidates``); the validation runs are cached in the work root.

Examples::

    python tools/analysis/mil_results.py --datasets musk1 --methods abmil abmil_gated
    python tools/analysis/mil_results.py --methods ours_abmil_mhim --seeds 1 \\
        --folds 2 --epochs 1 --out /tmp/smoke.json    # a pipeline check, not a result

``python tools/analysis/results_table.py docs/results/mil.json`` prints the
README table (mean +- std over seeds of the 10-fold means).
"""
import argparse
import glob
import json
import logging
import os
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.hooks import EMAHook
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
#: Hyper-parameter variants of a method: name -> config overrides (its config
#: is the method's with these applied; the rows carry them as ``overrides``).
OVERRIDES: Dict[str, dict] = {}
for _lam in ('0.01', '0.5'):
    METHODS[f'ours_dsmil_aem_lam{_lam}'] = METHODS['ours_dsmil_aem']
    OVERRIDES[f'ours_dsmil_aem_lam{_lam}'] = {'model.aem.loss_weight': float(_lam)}
#: MHIM with a faster teacher: MHIM-MIL's keep rate 0.9999 has a half-life of
#: 6,931 steps, longer than a whole run here (40 epochs of 83-180 training
#: bags, one bag per step: 3,300-7,200 steps), so the teacher stays 50-70 %
#: its random start; 0.999 halves in 693 steps (8 epochs of MUSK1).
METHODS['ours_dsmil_mhim_m0.999'] = METHODS['ours_dsmil_mhim']
OVERRIDES['ours_dsmil_mhim_m0.999'] = {'custom_hooks.0.momentum': 0.999}
#: MHIM and AEM together (AEM's example weight, 0.1).
METHODS['ours_dsmil_mhim_aem'] = METHODS['ours_dsmil_mhim']
OVERRIDES['ours_dsmil_mhim_aem'] = {'model.aem': dict(type='AttentionEntropyLoss',
                                                      loss_weight=0.1)}
#: Variants whose tested weights are the stochastic weight average (SWA,
#: mmengine's ``EMAHook`` with ``StochasticWeightAverage``) of every step of
#: the second half of training (from epoch ``max_epochs // 2``): the last
#: epoch of these small datasets is a noisy pick of one model.
SWA = set()
for _name in ('abmil', 'abmil_gated', 'ours_dsmil_aem_lam0.01', 'ours_dsmil_aem',
              'ours_dsmil_aem_lam0.5', 'ours_dsmil_mhim'):
    METHODS[f'{_name}_swa'] = METHODS[_name]
    OVERRIDES[f'{_name}_swa'] = OVERRIDES.get(_name, {})
    SWA.add(f'{_name}_swa')
#: Variants chosen per (dataset, split seed) among candidates by validation
#: NLL on held-out training bags (see the module docstring).
SELECTED: Dict[str, List[str]] = {
    'ours_dsmil_select': ['ours_dsmil_aem_lam0.01', 'ours_dsmil_aem', 'ours_dsmil_aem_lam0.5',
                          'ours_dsmil_mhim', 'ours_dsmil_mhim_m0.999'],
    'ours_dsmil_select_swa': ['ours_dsmil_aem_lam0.01_swa', 'ours_dsmil_aem_swa',
                              'ours_dsmil_aem_lam0.5_swa', 'ours_dsmil_mhim_swa'],
}
#: dataset -> (data file, features per instance, clip of standardised values;
#: see configs/_base_/datasets/mil_*.py)
DATASETS = {'musk1': ('musk1.csv.gz', 166, None), 'musk2': ('musk2.csv.gz', 166, None),
            'elephant': ('elephant.csv.gz', 230, 10.0)}
FOLDS = 10
#: checkpoint selection -> split directory suffix (see the module docstring)
SELECTIONS = {'last': '', 'val_nll': '-val10', 'val_last': '-val10'}


def fold_work_dir(work_root: str, method: str, dataset: str, seed: int, fold: int) -> str:
    return osp.join(work_root, f'{method}_{dataset}_seed{seed}', f'fold{fold}')


def fold_config(method: str, dataset: str, seed: int, fold: int, work_dir: str,
                epochs: Optional[int] = None, work_root: Optional[str] = None,
                selection: str = 'last') -> Config:
    """The config of ``method`` on ``dataset``, fold ``fold`` of split seed ``seed``."""
    cfg = Config.fromfile(osp.join(ROOT, METHODS[method]))
    cfg.merge_from_dict(OVERRIDES.get(method, {}))
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
    if method in SWA:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(
            type='EMAHook', ema_type='StochasticWeightAverage',
            begin_epoch=cfg.train_cfg.max_epochs // 2)]
    if selection != 'last':
        cfg.val_dataloader.dataset.split = 'val'  # the held-out training bags
    if selection == 'val_nll':
        # Validate after every epoch; keep the best.
        cfg.train_cfg.val_interval = 1
        cfg.default_hooks.checkpoint.update(save_best='bag/nll', rule='less')
    else:
        # Test once at the end (below), no validation during training
        # (`val_last`: validated once after training, see run()).
        cfg.train_cfg.val_interval = cfg.train_cfg.max_epochs + 1
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{method}_{dataset}_seed{seed}_fold{fold}'
    cfg.log_level = 'WARNING'
    return cfg


def _keep_averaged_weights(runner: Runner) -> None:
    """After ``runner.train()``, put the averaged weights of an ``EMAHook``
    into the model for good and drop the hook. ``Runner.val()`` and
    ``Runner.test()`` call the ``before_run`` hooks again, and
    ``EMAHook.before_run`` rebuilds its average from the current (last)
    weights, so without this they would test the last weights."""
    averages = [h for h in runner.hooks if isinstance(h, EMAHook)]
    for hook in averages:
        for param, avg in zip(hook.src_model.parameters(), hook.ema_model.module.parameters()):
            param.data.copy_(avg.data)
    runner._hooks = [h for h in runner.hooks if not isinstance(h, EMAHook)]


def run(method: str, dataset: str, seed: int, work_root: str, folds: int = FOLDS,
        epochs: Optional[int] = None, selection: str = 'last') -> dict:
    """Cross-validate one (method, dataset, seed); return its results row."""
    per_fold, val_metrics = [], []
    for fold in range(folds):
        work_dir = fold_work_dir(work_root, method, dataset, seed, fold)
        if selection != 'last':
            work_dir += f'_{selection}'
        cfg = fold_config(method, dataset, seed, fold, work_dir, epochs, work_root, selection)
        runner = Runner.from_cfg(cfg)
        runner.train()
        _keep_averaged_weights(runner)
        if selection == 'val_nll':
            best = runner.message_hub.get_info('best_ckpt')
            runner.load_checkpoint(best)
            print(f'   fold {fold}: testing {osp.basename(best)} (lowest val NLL)', flush=True)
        if selection == 'val_last':
            val = runner.val()
            val_metrics.append(val)
            print(f'   fold {fold}: val nll {val["bag/nll"]:.3f} accuracy '
                  f'{val["bag/accuracy"]:.3f}', flush=True)
        metrics = runner.test()
        per_fold.append(metrics)
        print(f'   fold {fold}: accuracy {metrics["bag/accuracy"]:.3f} auc '
              f'{metrics["bag/auc"]:.3f}', flush=True)
        MMLogger.get_instance(runner.experiment_name).handlers.clear()
    acc = [m['bag/accuracy'] for m in per_fold]
    auc = [m['bag/auc'] for m in per_fold if m['bag/auc'] == m['bag/auc']]  # skip NaN
    n_epochs = _epochs(method, epochs)
    extra = {} if selection == 'last' else dict(selection=selection)
    if OVERRIDES.get(method):
        extra['overrides'] = OVERRIDES[method]
    if method in SWA:
        extra['swa_from_epoch'] = n_epochs // 2
    if val_metrics:
        extra['val_nll'] = round(statistics.fmean(m['bag/nll'] for m in val_metrics), 4)
        extra['val_accuracy'] = round(statistics.fmean(m['bag/accuracy'] for m in val_metrics),
                                      4)
    return dict(method=method, split=dataset, seed=seed, **extra,
                accuracy=round(statistics.fmean(acc), 4),
                auc=round(statistics.fmean(auc), 4) if auc else None,
                accuracy_fold_std=round(statistics.stdev(acc), 4) if len(acc) > 1 else 0.0,
                folds=folds, epochs=n_epochs,
                config=METHODS[method], machine=MACHINE)


#: What makes a row one run (a new row replaces the old row of the same run).
ROW_KEY = ('method', 'split', 'seed', 'folds', 'epochs', 'selection')


def _row_key(row: dict) -> tuple:
    return tuple(row.get(k) for k in ROW_KEY)


def _epochs(method: str, epochs: Optional[int]) -> int:
    """The epochs a run of ``method`` trains: ``epochs``, else its config's."""
    return epochs or Config.fromfile(osp.join(ROOT, METHODS[method])).train_cfg.max_epochs


def select(method: str, dataset: str, seed: int, work_root: str, out: str, folds: int = FOLDS,
           epochs: Optional[int] = None) -> dict:
    """The row of the variant ``method`` (a key of ``SELECTED``): choose its
    candidate by validation NLL on held-out training bags, then report that
    candidate's ordinary row (run now unless ``out`` has it)."""
    candidates = {}
    rows = []
    if osp.isfile(out):
        with open(out) as f:
            rows = json.load(f)
    # Validation results an earlier selection recorded in its row (the same
    # runs; a fresh work root need not repeat them).
    key = _row_key(dict(method=method, split=dataset, seed=seed, folds=folds,
                        epochs=_epochs(SELECTED[method][0], epochs)))
    recorded = next((row.get('candidates', {}) for row in rows if _row_key(row) == key), {})
    for cand in SELECTED[method]:
        cache = osp.join(work_root, f'{cand}_{dataset}_seed{seed}_val_last_f{folds}'
                         f'_e{epochs or 0}.json')
        if osp.isfile(cache):
            with open(cache) as f:
                row = json.load(f)
            print(f'   {cand}: validation runs cached in {cache}', flush=True)
        elif cand in recorded:
            row = recorded[cand]
            print(f'   {cand}: validation results recorded in {out}', flush=True)
        else:
            print(f'-- {method}: candidate {cand} on the -val10 folds', flush=True)
            row = run(cand, dataset, seed, work_root, folds, epochs, 'val_last')
            os.makedirs(work_root, exist_ok=True)
            with open(cache, 'w') as f:
                json.dump(row, f, indent=1)
        candidates[cand] = dict(val_nll=row['val_nll'], val_accuracy=row['val_accuracy'])
        print(f'   {cand}: val nll {row["val_nll"]:.4f} accuracy {row["val_accuracy"]:.3f}',
              flush=True)
    chosen = min(candidates, key=lambda c: (candidates[c]['val_nll'],
                                            -candidates[c]['val_accuracy']))
    probe = dict(method=chosen, split=dataset, seed=seed, folds=folds,
                 epochs=_epochs(chosen, epochs))
    known = [r for r in rows if _row_key(r) == _row_key(probe)]
    if known:
        print(f'   chosen {chosen}: its row is in {out}', flush=True)
        test_row = known[0]
    else:
        print(f'-- {method}: chosen {chosen}, trained on the whole training folds', flush=True)
        test_row = run(chosen, dataset, seed, work_root, folds, epochs)
        _upsert(out, test_row, key=ROW_KEY)
    keep = ('accuracy', 'auc', 'accuracy_fold_std', 'folds', 'epochs', 'config', 'overrides',
            'swa_from_epoch', 'machine')
    return dict(method=method, split=dataset, seed=seed, chosen=chosen,
                selected_by='val_nll', candidates=candidates,
                **{k: test_row[k] for k in keep if k in test_row})


def main(argv=None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=list(METHODS) + list(SELECTED))
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
                if method in SELECTED:
                    row = select(method, dataset, seed, args.work_root, args.out, args.folds,
                                 args.epochs)
                else:
                    row = run(method, dataset, seed, args.work_root, args.folds, args.epochs,
                              args.selection)
                _upsert(args.out, row, key=ROW_KEY)
                print(f'   accuracy {row["accuracy"]:.3f} (folds +- '
                      f'{row["accuracy_fold_std"]:.3f})  auc {row["auc"]}', flush=True)
                rows.append(row)
    return rows


if __name__ == '__main__':
    main()
