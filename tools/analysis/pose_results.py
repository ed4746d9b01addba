"""Train and test the bee pose runs; write docs/results/pose.json.

Each (method, split, seed) is trained with ``tools/train.py`` on the labeled
part of that split (``data/bee_pose/annotations/semi/bee_pose_train.<10|30>pct.
seed<S>.*.json``, made by ``tools/dataset_converters/bee_pose_to_coco.py``)
with ``randomness.seed=<S>``, then its last checkpoint is evaluated on the 38
bee test images with ``tools/test.py``: PCK@0.05 of the box size and COCO-style
AP (OKS with one sigma of 0.05 for all 32 keypoints), both in points. One JSON
row per run (a row of the same method, split, seed and iterations is
replaced)::

    {"method": "ours_trs", "split": "10pct", "seed": 1, "PCK": 61.2, "AP": 40.3,
     "iters": 1000, "config": "configs/...", "machine": "2 CPU cores, no GPU"}

Semi-supervised rows also carry ``pl_precision`` and ``pl_recall`` (points):
kept pseudo keypoints within 5 % of the input diagonal of the hidden truth of
the unlabeled images, over the last logged intervals (the truth never
reaches a loss).

Methods: ``supervised`` (labeled part only), ``ours_mt`` (mean teacher only),
``ours_reviewer``, ``ours_mlfl``, ``ours_kpmix`` (each adds one component to
the mean teacher), ``ours_trs`` (all three), ``ours_trs_soft`` (all three,
learning the teacher's own warped heatmaps instead of Gaussians redrawn at
their arg-max) and ``supervised_full`` (all train images; split ``100pct``).
``oracle`` (the unlabeled images' true keypoints as pseudo keypoints) and
``oracle_kept`` (the truth at the keypoints the teacher would keep) are
diagnostics of the unlabeled path: they run only with ``--out`` elsewhere.

Examples::

    python tools/analysis/pose_results.py --methods supervised ours_trs --splits 10pct
    python tools/analysis/pose_results.py --methods ours_trs --seeds 1 --max-iters 4 \\
        --out /tmp/smoke.json          # a quick check of the pipeline, not a result

``--precise-bn 40`` trains nothing: it re-estimates the batch-norm statistics
of each row's saved checkpoint on 40 labeled training batches
(``tools/analysis/recalibrate_bn.py``), tests again and adds
``precise_bn_PCK`` / ``precise_bn_AP`` (and ``precise_bn_student_PCK``) to the
row; ``PCK`` and ``AP`` stay the numbers of the checkpoint as trained.

``python tools/analysis/results_table.py docs/results/pose.json`` prints the
README table.
"""
import argparse
import functools
import json
import os.path as osp
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from mmengine.config import Config  # noqa: E402
from results_common import (MACHINE, ROOT, abs_work_dir, add_reuse_arguments,  # noqa: E402
                            checkpoint_options, length_options,
                            parse_member_metrics, parse_pseudo_quality, refuse_diagnostics,
                            run_all, run_script,
                            scaled_size_options, sized_entries, split_config, test, train,
                            train_log, upsert)

SEMI = 'configs/trs/{}_td-hm_effl0_1xb16-1k_semi-10pct-bee.py'
#: method -> (config of the 10pct split, kind); kind decides how the split is
#: applied. Where a config of the other split exists it is used (and named in
#: the row); otherwise the 10pct config runs with that split's files.
METHODS: Dict[str, tuple] = {
    'supervised': ('configs/topdown_heatmap/td-hm_effl0_1xb8-1k_bee-10pct.py', 'labeled'),
    'supervised_full': ('configs/topdown_heatmap/td-hm_effl0_1xb8-1k_bee.py', 'full'),
    'ours_mt': (SEMI.format('mean-teacher'), 'semi'),
    'ours_reviewer': (SEMI.format('trs-reviewer'), 'semi'),
    'ours_mlfl': (SEMI.format('trs-mlfl'), 'semi'),
    'ours_kpmix': (SEMI.format('trs-kpmix'), 'semi'),
    'ours_trs': (SEMI.format('trs'), 'semi'),
    'ours_trs_soft': (SEMI.format('trs-soft'), 'semi'),
    # A diagnostic, never a results row: the unlabeled images' true keypoints
    # as pseudo keypoints (OraclePoseAdapter); only with --out elsewhere.
    'oracle': (SEMI.format('oracle'), 'semi'),
}
#: Methods that read the truth of the unlabeled images: their rows must not
#: reach docs/results/pose.json.
DIAGNOSTICS = ('oracle', 'oracle_kept')
#: Hyper-parameter variants of a method: name -> ``--cfg-options`` applied to
#: its config (the rows carry them as ``overrides``).
OVERRIDES: Dict[str, Dict[str, object]] = {}
#: Pseudo-keypoint threshold 0.4 instead of the configs' 0.6, chosen for
#: 256 x 256 crops with tools/analysis/pose_pseudo_label_quality.py on the
#: hidden truth of the unlabeled train images (never on test): for the full
#: TRS teacher of split seed 1 at 256 (iteration 900), 0.6 keeps 42 % of the
#: keypoints (precision 0.966, recall 0.471) and sits on the cliff of the
#: heatmap maxima (0.7 keeps 10 %), 0.4 keeps 73 % (precision 0.918, recall
#: 0.785), about what 0.6 kept at 128 x 128 (63-72 % at 86-87 %). Full TRS
#: with it scored 1.1 / 1.8 PCK below 0.6 on split seeds 1 / 2 (docs/pose.md).
for _method in ('ours_mt', 'ours_reviewer', 'ours_mlfl', 'ours_kpmix', 'ours_trs',
                'ours_trs_soft'):
    METHODS[f'{_method}_thr0.4'] = METHODS[_method]
    OVERRIDES[f'{_method}_thr0.4'] = {'model.threshold.thr': 0.4}
#: The truth, but only at the keypoints the teacher's own heatmap maximum
#: would keep (OraclePoseAdapter(keep='teacher')): with ``oracle`` and
#: ``ours_mt`` it splits what pseudo keypoints lack into how many are kept
#: and where they are put.
METHODS['oracle_kept'] = METHODS['oracle']
OVERRIDES['oracle_kept'] = {'model.adapter.keep': 'teacher'}
SPLITS = ('10pct', '30pct')
#: row key -> metric of the student in the training log's last validation
STUDENT_KEYS = {'student_PCK': 'PCK', 'student_AP': 'coco/AP'}
#: row key -> metric after re-estimating the batch-norm statistics of the
#: saved checkpoint (``--precise-bn``); the teacher for semi-supervised rows
PRECISE_BN_KEYS = {'precise_bn_PCK': 'PCK', 'precise_bn_AP': 'coco/AP'}


def split_options(kind: str, split: str, seed: int, data_root: Optional[str]) -> List[str]:
    """``--cfg-options`` that select the labeled/unlabeled files of a split and seed."""
    prefix = f'annotations/semi/bee_pose_train.{split}.seed{seed}'
    options = []
    if kind == 'labeled':
        options = [f'train_dataloader.dataset.ann_file={prefix}.labeled.json']
    elif kind == 'semi':
        # The unlabeled images with their hidden truth: only used to log
        # pseudo-keypoint precision and recall, never in a loss.
        hidden = f'annotations/semi/hidden_gt/bee_pose_train.{split}.seed{seed}.unlabeled.json'
        options = [f'train_dataloader.dataset.labeled.ann_file={prefix}.labeled.json',
                   f'train_dataloader.dataset.unlabeled.ann_file={hidden}', 'model.hidden_gt=True']
    if data_root:
        root = data_root.rstrip('/') + '/'
        where = (['train_dataloader.dataset.labeled', 'train_dataloader.dataset.unlabeled']
                 if kind == 'semi' else ['train_dataloader.dataset'])
        options += [f'{w}.data_root={root}' for w in where]
        options += data_options(root)
    return options


def data_options(root: str) -> List[str]:
    """``--cfg-options`` that point validation and test at another bee folder."""
    test_json = f'{root}annotations/bee_pose_test.json'
    return [f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
            f'val_evaluator.1.ann_file={test_json}', f'test_evaluator.1.ann_file={test_json}']


@functools.lru_cache(maxsize=None)
def load_config(config: str) -> Config:
    """``config`` (relative to the repository or absolute), parsed once; do
    not modify the returned object."""
    return Config.fromfile(osp.join(ROOT, config))


def size_entries(config: str) -> Iterator[Tuple[str, str, tuple]]:
    """``(path, key, value)`` of every ``input_size`` and ``heatmap_size`` in
    the model and the dataloaders of ``config`` (crop transforms, codecs);
    ``path`` is the ``--cfg-options`` key."""
    yield from sized_entries(load_config(config), ('input_size', 'heatmap_size'),
                             ('model', 'train_dataloader', 'val_dataloader', 'test_dataloader'))


def config_input_size(config: str) -> int:
    """Side of the square crops a pose config trains and tests on."""
    sizes = {value for _, key, value in size_entries(config) if key == 'input_size'}
    if len(sizes) != 1 or len({side for size in sizes for side in size}) != 1:
        raise ValueError(f'{config}: expected one square input_size, found {sorted(sizes)}')
    return sizes.pop()[0]


def resize_options(config: str, size: int) -> List[str]:
    """``--cfg-options`` that run ``config`` on ``size`` x ``size`` crops:
    every ``input_size`` (crop transforms, codecs) becomes ``(size, size)``
    and every ``heatmap_size`` keeps its share of the crop (e.g. 128 -> 256
    turns 32x32 heatmaps into 64x64), so the head's upsampling stays as it is.
    Sizes given as a share of the crop (Keypoint-Mix ``patch_size`` < 1)
    follow by themselves.

    Args:
        config (str): Pose config (top-down heatmaps, square crops).
        size (int): New crop side in pixels.

    Returns:
        list[str]: ``key=value`` options for ``tools/train.py --cfg-options``.
    """
    return scaled_size_options(config, size_entries(config), config_input_size(config), size)


def method_config(method: str, split: str) -> str:
    """Config of ``method`` on ``split`` (the 30pct file where one exists)."""
    config, kind = METHODS[method]
    return config if kind == 'full' else split_config(config, '10pct', split)


def run_name(method: str, split: str, seed: int, iters: Optional[int] = None,
             input_size: Optional[int] = None) -> str:
    """Work directory name of a run: ``<method>_<split|full>_seed<S>``, plus
    ``_it<N>`` when it ran for another length than its config's and
    ``_in<S>`` on crops of another size."""
    config = method_config(method, split)
    own_iters = load_config(config).train_cfg.max_iters
    full = METHODS[method][1] == 'full'
    name = f'{method}_{"full" if full else split}_seed{seed}'
    if iters and iters != own_iters:
        name += f'_it{iters}'
    if input_size and input_size != config_input_size(config):
        name += f'_in{input_size}'
    return name


def row_run(row: dict) -> Tuple[str, List[str]]:
    """Work directory name of the run that wrote ``row`` and the resize
    options it was trained with (none at the config's own crop size)."""
    config = method_config(row['method'], row['split'])
    size = row.get('input_size')
    resize = resize_options(config, size) if size and size != config_input_size(config) else []
    return run_name(row['method'], row['split'], row['seed'], row.get('iters'), size), resize


def run(method: str, split: str, seed: int, work_root: str, max_iters: Optional[int],
        data_root: Optional[str] = None, iters: Optional[int] = None,
        input_size: Optional[int] = None, reuse: bool = False,
        checkpoint_interval: Optional[int] = None) -> dict:
    """Train and test one (method, split, seed); return its results row.
    With ``reuse``, a finished training in the work directory is tested
    again instead of trained again.
    ``iters`` runs the whole schedule at that length (see
    :func:`results_common.stretch_options`; work dir suffix ``_it<N>``),
    ``max_iters`` only stops it early; ``input_size`` trains and tests on
    crops of that side (:func:`resize_options`; work dir suffix ``_in<S>``)."""
    kind = METHODS[method][1]
    config = method_config(method, split)
    options = split_options(kind, split, seed, data_root) + [f'randomness.seed={seed}']
    options += [f'{key}={value}' for key, value in OVERRIDES.get(method, {}).items()]
    options += length_options(config, iters, max_iters)
    options += checkpoint_options(checkpoint_interval)
    resize = resize_options(config, input_size) if input_size else []
    max_iters = iters or max_iters
    work_dir = osp.join(work_root, run_name(method, split, seed, max_iters, input_size))
    what = f'{method} {split} seed {seed}'
    reuse_iters = (max_iters or load_config(config).train_cfg.max_iters) if reuse else None
    checkpoint = train(config, work_dir, options + resize, what, reuse_iters)
    test_options = data_options(data_root.rstrip('/') + '/') if data_root else []
    metrics = test(config, checkpoint, work_dir, what, test_options + resize)
    iters = max_iters or int(checkpoint.rsplit('iter_', 1)[1].split('.')[0])
    quality = {}
    if kind == 'semi':
        # The rows report the teacher (predict_on='teacher'); the student of
        # the same checkpoint, from the last validation in the training log,
        # shows how far the EMA teacher lags behind.
        log = train_log(work_dir)
        quality = {**parse_pseudo_quality(log),
                   **parse_member_metrics(log, 'student', STUDENT_KEYS)}
    if OVERRIDES.get(method):
        quality['overrides'] = OVERRIDES[method]
    return dict(method=method, split='100pct' if kind == 'full' else split, seed=seed,
                PCK=round(100 * metrics['PCK'], 1), AP=round(100 * metrics['coco/AP'], 1),
                iters=iters, input_size=input_size or config_input_size(config), config=config,
                machine=MACHINE, **quality)


def add_student_metrics(out: str, work_root: str) -> List[dict]:
    """Add ``student_PCK`` / ``student_AP`` to the semi-supervised rows of
    ``out`` that lack them, from the training log of each run under
    ``work_root`` (rows written before the keys existed); return the rows changed."""
    with open(out) as f:
        rows = json.load(f)
    changed = []
    for row in rows:
        if METHODS.get(row['method'], ('', ''))[1] != 'semi' or 'student_PCK' in row:
            continue
        work_dir = osp.join(work_root, row_run(row)[0])
        if not osp.isfile(abs_work_dir(work_dir) + '.train.log'):
            print(f'   no training log for {work_dir}; row left as it is')
            continue
        row.update(parse_member_metrics(train_log(work_dir), 'student', STUDENT_KEYS))
        changed.append(row)
    for row in changed:
        upsert(out, row)
    print(f'   student metrics added to {len(changed)} rows of {out}')
    return changed


def precise_bn_metrics(row: dict, work_root: str, batches: int,
                       data_root: Optional[str] = None) -> Optional[dict]:
    """Metrics of the last checkpoint of ``row``'s run after re-estimating its
    batch-norm statistics on ``batches`` batches of labeled training views
    (``tools/analysis/recalibrate_bn.py --branches sup``: the views the
    running statistics came from during training), validated on the test
    images; None when the checkpoint is gone. Semi-supervised rows also get
    ``precise_bn_student_PCK``."""
    kind = METHODS[row['method']][1]
    name, resize = row_run(row)
    work_dir = osp.join(abs_work_dir(work_root), name)
    checkpoint = osp.join(work_dir, f'iter_{row["iters"]}.pth')
    if not osp.isfile(checkpoint):
        return None
    result = osp.join(work_dir, 'precise_bn.json')
    args = [row['config'], checkpoint, '--skip-before', '--batches', str(batches),
            '--json', result, '--work-dir', osp.join(work_dir, 'precise_bn')]
    if kind == 'semi':
        args += ['--branches', 'sup']
    options = split_options(kind, row['split'], row['seed'], data_root) + resize
    if options:
        args += ['--cfg-options', *options]
    run_script('tools/analysis/recalibrate_bn.py', args, f'precise BN of {name}')
    with open(result) as f:
        after = json.load(f)['after']
    out = {key: round(100 * after[metric], 1) for key, metric in PRECISE_BN_KEYS.items()}
    if kind == 'semi':
        out['precise_bn_student_PCK'] = round(100 * after['student/PCK'], 1)
    return out


def add_precise_bn(out: str, work_root: str, batches: int, data_root: Optional[str] = None,
                   methods: Sequence[str] = tuple(METHODS), splits: Sequence[str] = SPLITS,
                   seeds: Sequence[int] = (1, 2, 3)) -> List[dict]:
    """Add :data:`PRECISE_BN_KEYS` to the rows of ``out`` (of ``methods``,
    ``splits`` and ``seeds``, in that order; all-label rows count for every
    split) that lack them and whose checkpoint is still under ``work_root``;
    return the rows changed."""
    with open(out) as f:
        rows = json.load(f)

    def order(row):
        split = -1 if row['split'] == '100pct' else list(splits).index(row['split'])
        return split, list(methods).index(row['method']), row['seed']

    rows = sorted((r for r in rows if r['method'] in methods and r['seed'] in seeds
                   and (r['split'] in splits or r['split'] == '100pct')), key=order)
    changed = []
    for row in rows:
        if 'precise_bn_PCK' in row:
            continue
        metrics = precise_bn_metrics(row, work_root, batches, data_root)
        what = f'{row["method"]} {row["split"]} seed {row["seed"]}'
        if metrics is None:
            print(f'   {what}: no checkpoint under {work_root}; row left as it is', flush=True)
            continue
        row.update(metrics)
        upsert(out, row)
        changed.append(row)
        print(f'   {what}: PCK {row["PCK"]} -> {row["precise_bn_PCK"]} with precise BN',
              flush=True)
    return changed


def main(argv=None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--methods', nargs='+', choices=list(METHODS),
                        default=[m for m in METHODS if m not in OVERRIDES and m not in DIAGNOSTICS],
                        help='default: every method but the hyper-parameter variants and the '
                        f'diagnostics {DIAGNOSTICS}')
    parser.add_argument('--splits', nargs='+', default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[1, 2, 3])
    parser.add_argument('--out', default=osp.join(ROOT, 'docs', 'results', 'pose.json'))
    parser.add_argument('--work-root', default='work_dirs/results/pose')
    parser.add_argument('--data-root',
                        help='bee pose folder (default: the configs\' data/bee_pose)')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='shorten training (pipeline checks only; not a result)')
    parser.add_argument('--iters', type=int, default=None,
                        help='run the whole schedule (learning-rate steps included) at this '
                        'many iterations (a result; work dirs get an _it<N> suffix)')
    parser.add_argument('--student-from-logs', action='store_true',
                        help='train nothing: add the student metrics to the semi-supervised '
                        'rows of --out from their training logs under --work-root')
    parser.add_argument('--precise-bn', type=int, metavar='BATCHES',
                        help='train nothing: re-estimate the batch norms of each row\'s last '
                        'checkpoint under --work-root on this many labeled training batches, '
                        'test again and add precise_bn_* keys to the row')
    parser.add_argument('--input-size', type=int, default=None,
                        help='train and test on crops of this side instead of the configs\' '
                        '(heatmaps keep their share of the crop; work dirs get an _in<S> '
                        'suffix)')
    add_reuse_arguments(parser)
    args = parser.parse_args(argv)
    refuse_diagnostics(parser, args.methods, args.out, DIAGNOSTICS)
    if args.precise_bn:
        return add_precise_bn(args.out, args.work_root, args.precise_bn, args.data_root,
                              args.methods, args.splits, args.seeds)
    if args.student_from_logs:
        return add_student_metrics(args.out, args.work_root)
    full = [m for m, (_, kind) in METHODS.items() if kind == 'full']
    return run_all(args.methods, args.splits, args.seeds,
                   lambda m, split, seed: run(m, split, seed, args.work_root, args.max_iters,
                                              args.data_root, args.iters, args.input_size,
                                              args.reuse, args.checkpoint_interval),
                   args.out, full, summary=lambda r: f'PCK {r["PCK"]}  AP {r["AP"]}')


if __name__ == '__main__':
    main()
