"""Benchmark: our semi-supervised training iteration vs mmdet's SemiBaseDetector.

Both configs train the same RetinaNet (EfficientNet-Lite0 + FPN) on the same
BCCD 10 % split with the same batch (2 labeled + 2 unlabeled images, 320x240)
and the same pseudo-label threshold. Both start from the same detector
weights (``--checkpoint``, e.g. a supervised BCCD checkpoint, so that the
teachers produce pseudo boxes as they do in a real run; without it both start
from ImageNet) and our burn-in is switched off, so every timed iteration of
both runs the teacher forward, the pseudo-label step, the student forward and
backward on both branches, and the EMA update.

Runs alternate (ours, peer, ours, peer, ...) in one process and the median
iteration time of each is compared after ``--warmup`` iterations, so machine
noise hits both alike. Prints the ratio ours / peer (the target is <= 1.0).

    python tools/benchmarks/semi_iter_speed.py --checkpoint work_dirs/.../iter_1000.pth
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
from typing import List

import torch
from mmengine.config import Config

import ssl_dense  # noqa: F401
from ssl_dense.utils import register_all_modules
from ssl_dense.utils.checkpoint import safe_torch_load

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from iter_timing import no_burn_in, train_timed  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OURS = 'configs/mean_teacher/mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py'
PEER = 'configs/mmdet_semibase/semi-base_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py'


def peer_checkpoint(path: str, out_dir: str) -> str:
    """The detector weights of ``path`` as student and teacher of a SemiBaseDetector."""
    state = safe_torch_load(path, map_location='cpu')
    state = state.get('state_dict', state)
    both = {f'{part}.{k}': v for part in ('student', 'teacher') for k, v in state.items()}
    out = osp.join(out_dir, 'peer_init.pth')
    torch.save({'state_dict': both}, out)
    return out


def timed_run(config: str, iters: int, thr: float, work_dir: str, load_from: str = None,
              peer: bool = False) -> List[float]:
    """Train ``config`` for ``iters`` iterations; return the iteration times."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.load_from = load_from
    if peer:
        cfg.model.semi_train_cfg.cls_pseudo_thr = thr
    else:
        cfg.model.threshold = dict(type='FixedThreshold', thr=thr)
        no_burn_in(cfg)
    return train_timed(cfg, iters, work_dir)


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--checkpoint', help='plain detector checkpoint both start from')
    parser.add_argument('--iters', type=int, default=30, help='iterations per run')
    parser.add_argument('--warmup', type=int, default=5, help='untimed iterations per run')
    parser.add_argument('--rounds', type=int, default=2, help='alternating runs of each')
    parser.add_argument('--thr', type=float, default=0.5, help='pseudo-label threshold of both')
    args = parser.parse_args(argv)
    register_all_modules()
    times = {'ours': [], 'peer': []}
    with tempfile.TemporaryDirectory() as tmp:
        peer_init = peer_checkpoint(args.checkpoint, tmp) if args.checkpoint else None
        for r in range(args.rounds):
            for name in (('ours', 'peer') if r % 2 == 0 else ('peer', 'ours')):
                config, init = (OURS, args.checkpoint) if name == 'ours' else (PEER, peer_init)
                run_times = timed_run(config, args.iters, args.thr, osp.join(tmp, f'{name}{r}'),
                                      init, peer=name == 'peer')
                times[name] += run_times[args.warmup:]
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med['ours'] / med['peer']
    print(f'RetinaNet EfficientNet-Lite0, batch 2 labeled + 2 unlabeled, threshold {args.thr}, '
          f'start {args.checkpoint or "ImageNet backbone"}; {args.rounds} alternating runs of '
          f'{args.iters} iterations each ({args.warmup} warm-up), torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    print(f'median iteration: ours {med["ours"]:.3f} s, mmdet SemiBaseDetector '
          f'{med["peer"]:.3f} s')
    print(f'ratio ours / peer: {ratio:.2f}  (target <= 1.0)')
    return ratio


if __name__ == '__main__':
    main()
