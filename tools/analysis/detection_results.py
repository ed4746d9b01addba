"""Train and test the BCCD 10 % detection runs; write docs/results/detection.json.

Each (method, seed) is trained with ``tools/train.py`` on the labeled split of
that seed (``data/bccd/annotations/semi/train.10pct.seed<S>.*.json``, made by
``tools/split_dataset.py``) with ``randomness.seed=<S>``, then evaluated on
BCCD ``test`` with ``tools/test.py``. One JSON row per run is added to the
results file (a row with the same method, split and seed is replaced)::

    {"method": "ours_fixed", "split": "10pct", "seed": 1, "bbox_mAP": 38.9,
     "bbox_mAP_50": 80.3, "iters": 1000, "config": "configs/...",
     "machine": "2 CPU cores, no GPU"}

Examples::

    python tools/analysis/detection_results.py --methods supervised ours_fixed --seeds 1 2 3
    python tools/analysis/detection_results.py --methods ours_gmm --seeds 1 --max-iters 20 \\
        --out /tmp/smoke.json          # a quick check of the pipeline, not a result

``python tools/analysis/results_table.py docs/results/detection.json`` prints
the README table (mean +- std over seeds).
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: method -> (config, kind); kind decides how the split seed is applied.
METHODS: Dict[str, tuple] = {
    'supervised': ('configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd-10pct.py', 'labeled'),
    'supervised_full': ('configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd.py', 'full'),
    'ours_fixed': ('configs/mean_teacher/'
                   'mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py', 'semi'),
    'ours_adaptive': ('configs/mean_teacher/'
                      'mean-teacher-adaptive_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py',
                      'semi'),
    'ours_dual': ('configs/mean_teacher/'
                  'mean-teacher-dual_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py', 'semi'),
    'ours_gmm': ('configs/mean_teacher/'
                 'mean-teacher-gmm_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py', 'semi'),
}
METRIC_LINE = re.compile(r'Test metrics of .*?: (.*)$', re.MULTILINE)


def split_options(kind: str, seed: int) -> List[str]:
    """``--cfg-options`` that select the labeled/unlabeled split of ``seed``."""
    prefix = f'annotations/semi/train.10pct.seed{seed}'
    if kind == 'labeled':
        return [f'train_dataloader.dataset.ann_file={prefix}.labeled.json']
    if kind == 'semi':
        return [f'train_dataloader.dataset.labeled.ann_file={prefix}.labeled.json',
                f'train_dataloader.dataset.unlabeled.ann_file={prefix}.unlabeled.json']
    return []


def parse_metrics(output: str) -> Dict[str, float]:
    """Metrics from the summary line that tools/test.py prints."""
    if 'No test metrics for' in output:
        # COCO evaluation of a model with no detection above its score
        # threshold: mAP is 0 (tools/test.py says so instead of printing 0s).
        return {'coco/bbox_mAP': 0.0, 'coco/bbox_mAP_50': 0.0}
    match = METRIC_LINE.search(output)
    if not match:
        raise RuntimeError('tools/test.py printed no "Test metrics of" line:\n' + output[-2000:])
    pairs = re.findall(r'([\w/]+): ([-\d.]+)', match.group(1))
    return {k: float(v) for k, v in pairs}


def run(method: str, seed: int, work_root: str, max_iters: Optional[int]) -> dict:
    """Train and test one (method, seed); return its results row."""
    config, kind = METHODS[method]
    work_dir = osp.join(work_root, f'{method}_10pct_seed{seed}')
    if not osp.isabs(work_dir):
        work_dir = osp.join(ROOT, work_dir)
    options = split_options(kind, seed) + [f'randomness.seed={seed}']
    if max_iters:
        options += [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
                    f'default_hooks.checkpoint.interval={max_iters}']
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    train = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), config,
                            '--work-dir', work_dir, '--cfg-options', *options],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    os.makedirs(work_dir, exist_ok=True)
    with open(work_dir + '.train.log', 'w') as f:
        f.write(train.stdout + train.stderr)
    if train.returncode:
        raise RuntimeError(f'training {method} seed {seed} failed:\n{train.stderr[-3000:]}')
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    test = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'test.py'), config,
                           checkpoint, '--work-dir', osp.join(work_dir, 'test')],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if test.returncode:
        raise RuntimeError(f'testing {method} seed {seed} failed:\n{test.stderr[-3000:]}')
    metrics = parse_metrics(test.stdout)
    iters = max_iters or int(re.search(r'iter_(\d+)\.pth', checkpoint).group(1))
    return dict(method=method, split='10pct', seed=seed,
                bbox_mAP=round(100 * metrics['coco/bbox_mAP'], 1),
                bbox_mAP_50=round(100 * metrics['coco/bbox_mAP_50'], 1),
                iters=iters, config=config, machine=f'{os.cpu_count()} CPU cores, no GPU')


def upsert(path: str, row: dict) -> None:
    """Add ``row`` to the JSON list in ``path``, replacing the same run."""
    rows = json.load(open(path)) if osp.isfile(path) else []
    key = (row['method'], row['split'], row['seed'])
    rows = [r for r in rows if (r['method'], r['split'], r['seed']) != key] + [row]
    rows.sort(key=lambda r: (r['method'], r['split'], r['seed']))
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(rows, f, indent=1)


def main(argv=None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[1, 2, 3])
    parser.add_argument('--out', default=osp.join(ROOT, 'docs', 'results', 'detection.json'))
    parser.add_argument('--work-root', default='work_dirs/results/detection')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='shorten training (pipeline checks only; not a result)')
    args = parser.parse_args(argv)
    rows = []
    for method in args.methods:
        for seed in args.seeds:
            print(f'== {method} seed {seed}', flush=True)
            row = run(method, seed, args.work_root, args.max_iters)
            upsert(args.out, row)
            print(f'   bbox_mAP {row["bbox_mAP"]}  bbox_mAP_50 {row["bbox_mAP_50"]}', flush=True)
            rows.append(row)
    return rows


if __name__ == '__main__':
    main()
