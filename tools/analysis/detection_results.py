"""Train and test the BCCD 10 % detection runs; write docs/results/detection.json.

Each (method, seed) is trained with ``tools/train.py`` on the labeled split of
that seed (``data/bccd/annotations/semi/train.10pct.seed<S>.*.json``, made by
``tools/split_dataset.py``) with ``randomness.seed=<S>``, then evaluated on
BCCD ``test`` with ``tools/test.py``. ``--schedule`` picks the 1k- or
2k-iteration configs (every row of a table uses one schedule; the 2k
semi-supervised configs spend the first 1000 iterations on labeled data
only). One JSON row per run is added to the results file (a row with the
same method, split, seed and iterations is replaced)::

    {"method": "ours_fixed", "split": "10pct", "seed": 1, "bbox_mAP": 38.9,
     "bbox_mAP_50": 80.3, "iters": 1000, "config": "configs/...",
     "machine": "2 CPU cores, no GPU"}

Semi-supervised rows of ours also carry ``pl_precision`` and ``pl_recall``
(points): the pseudo labels against the hidden ground truth of the unlabeled
images over the last 300 iterations (the annotations never reach a loss). Rows
of the tuned peer carry its ``cls_pseudo_thr`` and ``momentum``.

Examples::

    python tools/analysis/detection_results.py --methods supervised ours_fixed --seeds 1 2 3
    python tools/analysis/detection_results.py --schedule 2k --methods supervised ours_fixed
    python tools/analysis/detection_results.py --methods ours_gmm --seeds 1 --max-iters 20 \\
        --out /tmp/smoke.json          # a quick check of the pipeline, not a result
    # The peer (mmdet SemiBaseDetector): tune cls_pseudo_thr x momentum on val
    # (split seed 1; writes docs/results/detection_peer_grid.json), then test
    # the best point and mmdet's defaults on every seed.
    python tools/analysis/detection_results.py --schedule 2k --peer-grid
    python tools/analysis/detection_results.py --schedule 2k \\
        --methods mmdet_semibase mmdet_semibase_default
    # The tuned peer after the same 1,000-iteration supervised burn-in as ours.
    python tools/analysis/detection_results.py --schedule 2k --methods mmdet_semibase_burnin

``python tools/analysis/results_table.py docs/results/detection.json`` prints
the README table (mean +- std over seeds).
"""
import argparse
import json
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from results_common import MACHINE, ROOT, abs_work_dir, parse_pseudo_quality  # noqa: E402,F401
from results_common import train_log  # noqa: E402
from results_common import parse_metrics as _parse_metrics  # noqa: E402
from results_common import test as _test  # noqa: E402
from results_common import train as _train  # noqa: E402
from results_common import upsert as _upsert  # noqa: E402

#: schedule -> method -> (config, kind); kind decides how the split seed is applied.
SCHEDULES: Dict[str, Dict[str, tuple]] = {
    '1k': {
        'supervised': ('configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd-10pct.py', 'labeled'),
        'supervised_full': ('configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd.py', 'full'),
        'ours_fixed': ('configs/mean_teacher/'
                       'mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py', 'semi'),
        'ours_adaptive': ('configs/mean_teacher/mean-teacher-adaptive_retinanet_effl0_fpn_'
                          '1xb4-1k_semi-10pct-bccd.py', 'semi'),
        'ours_dual': ('configs/mean_teacher/'
                      'mean-teacher-dual_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py', 'semi'),
        'ours_gmm': ('configs/mean_teacher/'
                     'mean-teacher-gmm_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py', 'semi'),
        'mmdet_semibase': ('configs/mmdet_semibase/'
                           'semi-base_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py', 'peer'),
    },
    '2k': {
        'supervised': ('configs/retinanet/retinanet_effl0_fpn_1xb4-2k_bccd-10pct.py', 'labeled'),
        'supervised_full': ('configs/retinanet/retinanet_effl0_fpn_1xb4-2k_bccd.py', 'full'),
        'ours_fixed': ('configs/mean_teacher/'
                       'mean-teacher_retinanet_effl0_fpn_1xb4-2k_semi-10pct-bccd.py', 'semi'),
        'mmdet_semibase': ('configs/mmdet_semibase/'
                           'semi-base_retinanet_effl0_fpn_1xb4-2k_semi-10pct-bccd.py', 'peer'),
    },
}
SCHEDULES['2k']['ours_fixed_band'] = (
    'configs/mean_teacher/mean-teacher-band_retinanet_effl0_fpn_1xb4-2k_semi-10pct-bccd.py', 'semi')
for _policy in ('adaptive', 'dual', 'gmm'):
    SCHEDULES['2k'][f'ours_{_policy}'] = (
        f'configs/mean_teacher/mean-teacher-{_policy}_retinanet_effl0_fpn_1xb4-2k_'
        'semi-10pct-bccd.py', 'semi')
for _methods in SCHEDULES.values():
    # The peer tuned on val (--peer-grid) and with mmdet's defaults (0.9, 0.001).
    _methods['mmdet_semibase_default'] = _methods['mmdet_semibase']
# The tuned peer given a burn-in as ours has one: 1,000 supervised iterations
# (the 1k `supervised` run of the same split), then 1,000 iterations of the
# peer's 1k config started from that checkpoint (teacher and student alike):
# 2,000 iterations in all, as the 2k rows.
SCHEDULES['2k']['mmdet_semibase_burnin'] = SCHEDULES['1k']['mmdet_semibase']
SCHEDULE_ITERS = {'1k': 1000, '2k': 2000}
#: The peer's tuning grid (issue 3): pseudo-label threshold x EMA momentum.
PEER_GRID = dict(cls_pseudo_thr=(0.5, 0.7, 0.9), momentum=(0.001, 0.01))
PEER_GRID_FILE = osp.join(ROOT, 'docs', 'results', 'detection_peer_grid.json')
VAL_LINE = re.compile(r'Iter\(val\).*?teacher/coco/bbox_mAP: ([\d.]+)\s+'
                      r'teacher/coco/bbox_mAP_50: ([\d.]+)')


def split_options(kind: str, seed: int) -> List[str]:
    """``--cfg-options`` that select the labeled/unlabeled split of ``seed``."""
    prefix = f'annotations/semi/train.10pct.seed{seed}'
    if kind == 'labeled':
        return [f'train_dataloader.dataset.ann_file={prefix}.labeled.json']
    if kind == 'semi':
        # The unlabeled images with their hidden ground truth: only used to log
        # pseudo-label precision and recall, never in a loss (tested).
        hidden = f'annotations/semi/hidden_gt/train.10pct.seed{seed}.unlabeled.json'
        return [f'train_dataloader.dataset.labeled.ann_file={prefix}.labeled.json',
                f'train_dataloader.dataset.unlabeled.ann_file={hidden}', 'model.hidden_gt=True']
    if kind == 'peer':
        return [f'train_dataloader.dataset.datasets.0.ann_file={prefix}.labeled.json',
                f'train_dataloader.dataset.datasets.1.ann_file={prefix}.unlabeled.json']
    return []


def two_branch_checkpoint(src: str, dst: str) -> str:
    """Write ``dst``: the detector weights of checkpoint ``src`` as both the
    ``student.`` and the ``teacher.`` of mmdet's SemiBaseDetector."""
    import torch

    from ssl_dense.utils.checkpoint import safe_torch_load
    state = safe_torch_load(src, map_location='cpu')['state_dict']
    both = {f'{branch}.{k}': v for branch in ('student', 'teacher') for k, v in state.items()}
    torch.save(dict(state_dict=both, meta=dict(source=src)), dst)
    return dst


def peer_options(thr: float, momentum: float) -> List[str]:
    """``--cfg-options`` that set the peer's threshold and EMA momentum."""
    return [f'model.semi_train_cfg.cls_pseudo_thr={thr}', f'custom_hooks.0.momentum={momentum}']


def tuned_peer(path: str = PEER_GRID_FILE, iters: Optional[int] = None) -> dict:
    """The grid row with the best teacher mAP on val (ties: higher mAP50),
    among the rows of schedule length ``iters`` (all rows if None)."""
    rows = json.load(open(path)) if osp.isfile(path) else []
    rows = [r for r in rows if iters is None or r['iters'] == iters]
    if not rows:
        raise FileNotFoundError(
            f'no {iters or ""}-iteration grid rows in {path}: run this script with --peer-grid '
            '(and the same --schedule) first to tune the peer on val, or choose the method '
            'mmdet_semibase_default')
    return max(rows, key=lambda r: (r['val_bbox_mAP'], r['val_bbox_mAP_50']))


def parse_val(log: str) -> Dict[str, float]:
    """Teacher metrics of the last validation in a peer training log."""
    found = VAL_LINE.findall(log)
    if not found:
        # mmdet's CocoMetric logs nothing when no box passed the score threshold.
        return {'val_bbox_mAP': 0.0, 'val_bbox_mAP_50': 0.0}
    mAP, mAP50 = found[-1]
    return {'val_bbox_mAP': round(100 * float(mAP), 1),
            'val_bbox_mAP_50': round(100 * float(mAP50), 1)}


def parse_metrics(output: str) -> Dict[str, float]:
    """Metrics from the summary line that tools/test.py prints (a detector
    with no box above its score threshold has mAP 0)."""
    return _parse_metrics(output, empty={'coco/bbox_mAP': 0.0, 'coco/bbox_mAP_50': 0.0})


def train(method: str, seed: int, work_dir: str, max_iters: Optional[int],
          extra: List[str] = (), schedule: str = '1k') -> str:
    """Train one run with tools/train.py; return the path of its last checkpoint."""
    config, kind = SCHEDULES[schedule][method]
    options = split_options(kind, seed) + [f'randomness.seed={seed}'] + list(extra)
    if max_iters:
        options += [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
                    f'default_hooks.checkpoint.interval={max_iters}']
    return _train(config, work_dir, options, f'{method} seed {seed}')


def run(method: str, seed: int, work_root: str, max_iters: Optional[int],
        schedule: str = '1k') -> dict:
    """Train and test one (method, seed); return its results row."""
    config, kind = SCHEDULES[schedule][method]
    extra, hyper = [], {}
    work_dir = osp.join(work_root, f'{method}_{schedule}_10pct_seed{seed}')
    if method in ('mmdet_semibase', 'mmdet_semibase_burnin'):
        best = tuned_peer(iters=max_iters or SCHEDULE_ITERS[schedule])
        hyper = dict(cls_pseudo_thr=best['cls_pseudo_thr'], momentum=best['momentum'])
        extra = peer_options(hyper['cls_pseudo_thr'], hyper['momentum'])
    if method == 'mmdet_semibase_burnin':
        burn_in = osp.join(work_root, f'supervised_1k_10pct_seed{seed}')
        last = osp.join(abs_work_dir(burn_in), 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as f:
                supervised = f.read().strip()
        else:
            supervised = train('supervised', seed, burn_in, max_iters and max_iters // 2, (),
                               '1k')
        os.makedirs(abs_work_dir(work_dir), exist_ok=True)
        init = two_branch_checkpoint(supervised, osp.join(abs_work_dir(work_dir),
                                                          'burn_in.pth'))
        extra = extra + [f'load_from={init}']
        if max_iters:
            max_iters = max(1, max_iters // 2)
    checkpoint = train(method, seed, work_dir, max_iters, extra, schedule)
    if kind == 'semi':
        hyper.update(parse_pseudo_quality(train_log(work_dir)))
    metrics = _test(config, checkpoint, work_dir, f'{method} seed {seed}',
                    empty={'coco/bbox_mAP': 0.0, 'coco/bbox_mAP_50': 0.0})
    iters = max_iters or int(re.search(r'iter_(\d+)\.pth', checkpoint).group(1))
    if method == 'mmdet_semibase_burnin':
        iters *= 2  # the supervised burn-in counts too
    return dict(method=method, split='10pct', seed=seed,
                bbox_mAP=round(100 * metrics['coco/bbox_mAP'], 1),
                bbox_mAP_50=round(100 * metrics['coco/bbox_mAP_50'], 1),
                iters=iters, config=config, machine=MACHINE,
                **hyper)


def peer_grid(work_root: str, max_iters: Optional[int], out: str = PEER_GRID_FILE,
              seed: int = 1, schedule: str = '1k', thrs: Optional[List[float]] = None,
              momenta: Optional[List[float]] = None) -> List[dict]:
    """Train the peer for every grid point on split ``seed``; rows of teacher val mAP.

    ``thrs`` / ``momenta`` restrict the run to part of :data:`PEER_GRID` (to
    spread the grid over several processes); rows go to the same file.
    """
    rows = []
    iters = max_iters or SCHEDULE_ITERS[schedule]
    for name, subset in (('cls_pseudo_thr', thrs), ('momentum', momenta)):
        outside = sorted(set(subset or ()) - set(PEER_GRID[name]))
        if outside:
            raise ValueError(f'{name} values {outside} are not in the grid {PEER_GRID[name]}')
    for thr in thrs or PEER_GRID['cls_pseudo_thr']:
        for momentum in momenta or PEER_GRID['momentum']:
            print(f'== mmdet_semibase grid thr {thr} momentum {momentum}', flush=True)
            work_dir = osp.join(work_root,
                                f'peer_grid_{schedule}_thr{thr}_m{momentum}_seed{seed}')
            train('mmdet_semibase', seed, work_dir, max_iters, peer_options(thr, momentum),
                  schedule)
            log = train_log(work_dir)
            row = dict(method='mmdet_semibase', split='10pct', seed=seed, cls_pseudo_thr=thr,
                       momentum=momentum, **parse_val(log), iters=iters,
                       config=SCHEDULES[schedule]['mmdet_semibase'][0])
            print(f'   val bbox_mAP {row["val_bbox_mAP"]}', flush=True)
            rows.append(row)
            # Written after every point, so a stopped grid keeps what it measured.
            _upsert(out, row, key=('cls_pseudo_thr', 'momentum', 'seed', 'iters'))
    return rows


def upsert(path: str, row: dict) -> None:
    """Add ``row`` to the JSON list in ``path``, replacing the same run."""
    _upsert(path, row)


def main(argv=None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--schedule', choices=list(SCHEDULES), default='1k',
                        help='iteration schedule (every row of one table uses the same)')
    parser.add_argument('--methods', nargs='+', default=None,
                        choices=sorted({m for s in SCHEDULES.values() for m in s}))
    parser.add_argument('--seeds', nargs='+', type=int, default=[1, 2, 3])
    parser.add_argument('--out', default=osp.join(ROOT, 'docs', 'results', 'detection.json'))
    parser.add_argument('--work-root', default='work_dirs/results/detection')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='shorten training (pipeline checks only; not a result)')
    parser.add_argument('--peer-grid', action='store_true',
                        help='tune the peer on val (split seed 1) and write '
                        'docs/results/detection_peer_grid.json instead of test rows')
    parser.add_argument('--peer-grid-out', default=PEER_GRID_FILE)
    parser.add_argument('--grid-thr', nargs='+', type=float, default=None,
                        help='with --peer-grid: only these thresholds of the grid')
    parser.add_argument('--grid-momentum', nargs='+', type=float, default=None,
                        help='with --peer-grid: only these momenta of the grid')
    args = parser.parse_args(argv)
    if args.peer_grid:
        try:
            return peer_grid(args.work_root, args.max_iters, args.peer_grid_out,
                             schedule=args.schedule, thrs=args.grid_thr,
                             momenta=args.grid_momentum)
        except ValueError as err:
            parser.error(str(err))
    methods = args.methods or list(SCHEDULES[args.schedule])
    unknown = [m for m in methods if m not in SCHEDULES[args.schedule]]
    if unknown:
        parser.error(f'methods {unknown} have no {args.schedule} config')
    rows = []
    for method in methods:
        for seed in args.seeds:
            print(f'== {method} {args.schedule} seed {seed}', flush=True)
            row = run(method, seed, args.work_root, args.max_iters, args.schedule)
            upsert(args.out, row)
            print(f'   bbox_mAP {row["bbox_mAP"]}  bbox_mAP_50 {row["bbox_mAP_50"]}', flush=True)
            rows.append(row)
    return rows


if __name__ == '__main__':
    main()
