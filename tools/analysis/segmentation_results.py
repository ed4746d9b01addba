"""Train and test the CamVid segmentation runs; write docs/results/segmentation.json.

Each (method, split, seed) is trained with ``tools/train.py`` on the labeled
part of that split (``data/camvid/splits/train.<1-8|1-4|1-32>.seed<S>.*.txt``,
made by ``tools/dataset_converters/prepare_camvid.py``) with
``randomness.seed=<S>``, then evaluated on CamVid ``test`` (233 images) with
``tools/test.py``. One JSON row per run (a row of the same method, split,
seed and iterations is replaced)::

    {"method": "ours_fixed", "split": "1/8", "seed": 1, "mIoU": 52.3,
     "mIoU_0001TP": 40.1, "mIoU_Seq05VD": 45.2,
     "iters": 2000, "config": "configs/...", "machine": "2 CPU cores, no GPU"}

``oracle`` (the unlabeled images' true label maps as pseudo labels) is a
diagnostic of the unlabeled path: it runs only with ``--out`` elsewhere.

``mIoU_<sequence>``: the mIoU over the test frames of one CamVid sequence
(``GroupedIoUMetric``, the configs' test evaluator): 0001TP has other frames
in ``train``, Seq05VD has none.

Examples::

    python tools/analysis/segmentation_results.py --methods supervised ours_fixed \\
        --splits 1/8 1/4 --seeds 1 2 3
    python tools/analysis/segmentation_results.py --methods supervised_full --seeds 1
    python tools/analysis/segmentation_results.py --methods supervised ours_fixed \\
        --splits 1/8 --seeds 1 --iters 4000   # the whole schedule stretched to 4k iterations
    python tools/analysis/segmentation_results.py --methods ours_cutmix_fp --max-iters 4 \\
        --out /tmp/smoke.json          # a quick check of the pipeline, not a result

``--iters N`` is a result at another schedule length: training stops at N,
the poly decay ends at N and validation and checkpoints fall at N/2 and N
(warm-up, burn-in and EMA ramp keep their iteration counts); work
directories get an ``_it<N>`` suffix and rows ``"iters": N``, so rows of
different lengths sit side by side. ``--max-iters`` only cuts the
configured schedule short.

``--input-size N`` trains on N x N crops of images scaled by N / 128 (the
configs: 128 x 128 crops of 240 x 180 images; ``--input-size 256``: 256 x 256
crops of the full-size 480 x 360 images, the GPU recipe) and tests at that
scale; work directories get an ``_in<N>`` suffix and rows
``"input_size": N``.

``python tools/analysis/results_table.py docs/results/segmentation.json``
prints the README table.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from mmengine.config import Config  # noqa: E402
from results_common import (MACHINE, ROOT, add_reuse_arguments,  # noqa: E402
                            checkpoint_options, length_options, refuse_diagnostics, run_all,
                            scaled_size_options, sized_entries, split_config, test, train)

SEMI = 'configs/mean_teacher_seg/mean-teacher{}_fpn_effl0_1xb16-2k_semi-1-8-camvid.py'
#: method -> (config of the 1/8 split, kind); kind decides how the split is applied.
METHODS: Dict[str, tuple] = {
    'supervised': ('configs/fpn/fpn_effl0_1xb8-2k_camvid-1-8.py', 'labeled'),
    'supervised_full': ('configs/fpn/fpn_effl0_1xb8-2k_camvid.py', 'full'),
    'ours_fixed': (SEMI.format(''), 'semi'),
    'ours_cutmix_fp': (SEMI.format('-cutmix-fp'), 'semi'),
    'ours_u2pl': (SEMI.format('-u2pl'), 'semi'),
    'ours_corrmatch': (SEMI.format('-corrmatch'), 'semi'),
    'ours_cb': (SEMI.format('-cb'), 'semi'),
    'ours_adaptive': (SEMI.format('-adaptive'), 'semi'),
    'ours_dars': (SEMI.format('-dars'), 'semi'),
    'ours_dars_cutmix_fp': (SEMI.format('-dars-cutmix-fp'), 'semi'),
    'ours_nohue': (SEMI.format('-nohue'), 'semi'),
    # A diagnostic, never a results row: the unlabeled images' true label
    # maps as pseudo labels (OracleSegmentationAdapter); only with --out elsewhere.
    'oracle': ('configs/mean_teacher_seg/oracle_fpn_effl0_1xb16-2k_semi-1-8-camvid.py', 'semi'),
}
#: Methods that read the truth of the unlabeled images: their rows must not
#: reach docs/results/segmentation.json.
DIAGNOSTICS = ('oracle',)
SPLITS = {'1/8': '1-8', '1/4': '1-4', '1/32': '1-32'}


def split_options(kind: str, split: str, seed: int, data_root: Optional[str]) -> List[str]:
    """``--cfg-options`` that select the labeled/unlabeled lists of a split and seed."""
    options = []
    prefix = f'splits/train.{SPLITS[split]}.seed{seed}' if kind != 'full' else ''
    if kind == 'labeled':
        options = [f'train_dataloader.dataset.ann_file={prefix}.labeled.txt']
    elif kind == 'semi':
        options = [f'train_dataloader.dataset.labeled.ann_file={prefix}.labeled.txt',
                   f'train_dataloader.dataset.unlabeled.ann_file={prefix}.unlabeled.txt']
    if data_root:
        where = (['train_dataloader.dataset.labeled', 'train_dataloader.dataset.unlabeled']
                 if kind == 'semi' else ['train_dataloader.dataset'])
        options += [f'{w}.data_root={data_root}' for w in where]
        options += [f'{d}_dataloader.dataset.data_root={data_root}' for d in ('val', 'test')]
    return options


def size_options(config: str, size: int) -> List[str]:
    """``--cfg-options`` that run ``config`` on ``size`` x ``size`` crops:
    every ``crop_size`` of the dataloaders becomes ``(size, size)`` and every
    image ``scale`` grows by the same factor (e.g. 128 -> 256: 240 x 180
    images become 480 x 360), in training, validation and test.

    Args:
        config (str): CamVid config (square crops).
        size (int): New crop side in pixels.

    Returns:
        list[str]: ``key=value`` options for ``tools/train.py --cfg-options``.
    """
    entries = list(sized_entries(Config.fromfile(osp.join(ROOT, config)), ('crop_size', 'scale'),
                                 ('train_dataloader', 'val_dataloader', 'test_dataloader')))
    crops = {value for _, key, value in entries if key == 'crop_size'}
    if len(crops) != 1 or len(set(next(iter(crops)))) != 1:
        raise ValueError(f'{config}: expected one square crop_size, found {sorted(crops)}')
    return scaled_size_options(config, entries, next(iter(crops))[0], size)


def run(method: str, split: str, seed: int, work_root: str, max_iters: Optional[int],
        data_root: Optional[str] = None, reuse: bool = False,
        iters: Optional[int] = None, checkpoint_interval: Optional[int] = None,
        input_size: Optional[int] = None) -> dict:
    """Train and test one (method, split, seed); return its results row.
    With ``reuse``, a finished training in the work directory is tested
    again instead of trained again; ``iters`` stretches the whole schedule
    (see :func:`results_common.stretch_options`), ``max_iters`` only stops it
    early; ``input_size`` trains and tests at another scale
    (:func:`size_options`)."""
    config, kind = METHODS[method]
    if kind != 'full':
        config = split_config(config, '1-8', SPLITS[split])
    resize = size_options(config, input_size) if input_size else []
    options = split_options(kind, split, seed, data_root) + [f'randomness.seed={seed}']
    options += length_options(config, iters, max_iters) + resize
    options += checkpoint_options(checkpoint_interval)
    max_iters = iters or max_iters
    name = f'{method}_{SPLITS[split] if kind != "full" else "full"}_seed{seed}'
    if iters:
        name += f'_it{iters}'
    if input_size:
        name += f'_in{input_size}'
    work_dir = osp.join(work_root, name)
    reuse_iters = (max_iters or Config.fromfile(osp.join(ROOT, config)).train_cfg.max_iters
                   if reuse else None)
    checkpoint = train(config, work_dir, options, f'{method} {split} seed {seed}', reuse_iters)
    test_options = ([f'test_dataloader.dataset.data_root={data_root}'] if data_root else [])
    test_options += [o for o in resize if o.startswith('test_dataloader.')]
    metrics = test(config, checkpoint, work_dir, f'{method} {split} seed {seed}',
                   test_options)
    iters = max_iters or int(checkpoint.rsplit('iter_', 1)[1].split('.')[0])
    per_sequence = {k: round(v, 1) for k, v in metrics.items() if k.startswith('mIoU_')}
    return dict(method=method, split='100pct' if kind == 'full' else split, seed=seed,
                mIoU=round(metrics['mIoU'], 1), **per_sequence, iters=iters,
                **(dict(input_size=input_size) if input_size else {}), config=config,
                machine=MACHINE)


def main(argv=None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--methods', nargs='+', choices=list(METHODS),
                        default=[m for m in METHODS if m not in DIAGNOSTICS],
                        help=f'default: every method but the diagnostics {DIAGNOSTICS}')
    parser.add_argument('--splits', nargs='+', default=['1/8', '1/4'], choices=list(SPLITS),
                        help='labeled shares of train (1/32: the scarce-label probe)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[1, 2, 3])
    parser.add_argument('--out', default=osp.join(ROOT, 'docs', 'results', 'segmentation.json'))
    parser.add_argument('--work-root', default='work_dirs/results/segmentation')
    parser.add_argument('--data-root', help='CamVid folder (default: the configs\' data/camvid)')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='shorten training (pipeline checks only; not a result)')
    parser.add_argument('--iters', type=int, default=None,
                        help='stretch the whole schedule (poly decay included) to this '
                        'many iterations (a result; work dirs get an _it<N> suffix)')
    parser.add_argument('--input-size', type=int, default=None,
                        help='train and test on N x N crops of images scaled by N / 128 '
                        '(256: full-size CamVid, the GPU recipe; work dirs get an _in<N> '
                        'suffix)')
    add_reuse_arguments(parser)
    args = parser.parse_args(argv)
    refuse_diagnostics(parser, args.methods, args.out, DIAGNOSTICS)
    if args.input_size == 128:
        args.input_size = None  # the configs' own size: the rows without input_size
    full = [m for m, (_, kind) in METHODS.items() if kind == 'full']
    return run_all(args.methods, args.splits, args.seeds,
                   lambda m, split, seed: run(m, split, seed, args.work_root, args.max_iters,
                                              args.data_root, args.reuse, args.iters,
                                              args.checkpoint_interval, args.input_size),
                   args.out, full, summary=lambda r: f'mIoU {r["mIoU"]}')


if __name__ == '__main__':
    main()
