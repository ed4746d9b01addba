"""Benchmark: a semi-supervised segmentation iteration vs a supervised one.

Both train Semantic FPN (EfficientNet-Lite0) on the configs' CamVid crops with the
same total batch (supervised: 8 labeled; mean teacher: 4 labeled + 4
unlabeled, weak and strong views; the semi-supervised config's own batch of
8 + 8 is halved for this) and the same model; the mean teacher's
burn-in is switched off, so every timed iteration of it runs the teacher on
the weak views and the student on the strong ones. Runs alternate in one
process; the medians after ``--warmup`` iterations are compared. Prints the
ratio semi / supervised (the teacher forward is the expected extra cost).

    python tools/benchmarks/seg_iter_speed.py [--semi-config CONFIG] [--iters 20]
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile

import torch
from mmengine.config import Config

import ssl_dense  # noqa: F401
from ssl_dense.utils import register_all_modules

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from iter_timing import no_burn_in, train_timed  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SUP = 'configs/fpn/fpn_effl0_1xb8-2k_camvid-1-8.py'
SEMI = 'configs/mean_teacher_seg/mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py'


def _load(config: str, data_root: str = None) -> Config:
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if data_root:
        data = cfg.train_dataloader.dataset
        for part in ([data.labeled, data.unlabeled] if 'labeled' in data else [data]):
            part.data_root = data_root
    return no_burn_in(cfg)


def _same_total_batch(semi: Config, sup: Config) -> Config:
    """``semi`` with the total batch of ``sup``, half labeled, half unlabeled."""
    total = sup.train_dataloader.batch_size
    semi.train_dataloader.batch_size = total
    semi.train_dataloader.sampler.update(batch_size=total, num_labeled=total // 2)
    return semi


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sup-config', default=SUP)
    parser.add_argument('--semi-config', default=SEMI)
    parser.add_argument('--data-root', help='CamVid folder (default: the configs\')')
    parser.add_argument('--iters', type=int, default=20, help='iterations per run')
    parser.add_argument('--warmup', type=int, default=3, help='untimed iterations per run')
    parser.add_argument('--rounds', type=int, default=2, help='alternating runs of each')
    args = parser.parse_args(argv)
    register_all_modules()
    times = {'semi': [], 'sup': []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in (('semi', 'sup') if r % 2 == 0 else ('sup', 'semi')):
                sup = _load(args.sup_config, args.data_root)
                cfg = (_same_total_batch(_load(args.semi_config, args.data_root), sup)
                       if name == 'semi' else sup)
                run = train_timed(cfg, args.iters, osp.join(tmp, f'{name}{r}'))
                times[name] += run[args.warmup:]
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med['semi'] / med['sup']
    print(f'Semantic FPN EfficientNet-Lite0, total batch 8; {args.rounds} alternating runs of '
          f'{args.iters} iterations each ({args.warmup} warm-up), torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    print(f'median iteration: semi-supervised {med["semi"]:.3f} s, supervised {med["sup"]:.3f} s')
    print(f'ratio semi / supervised: {ratio:.2f}')
    return ratio


if __name__ == '__main__':
    main()
