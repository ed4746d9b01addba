"""Time and peak memory of one MIL bag as the bag grows (CPU).

For each aggregator (ABMIL, gated ABMIL, DSMIL, TransMIL), bag size and mode
(a training step: forward + backward; a prediction: forward without
gradients), a fresh subprocess builds the model and a random bag of
``n x 1024`` features. Memory: the peak resident memory of the first step
above the memory in use just before it (Linux: the high-water mark ``VmHWM``
is reset through ``/proc/self/clear_refs``; the first step, because later
ones reuse memory the allocator kept). The bag itself (``n x 1024`` float32)
is allocated before and not counted. Time: the median of ``--repeats``
further steps.

Linear memory means the peak doubles when the bag doubles: the printed
``mem x2`` column is peak(n) / peak(n / 2) (2 is linear, 4 would be
quadratic, e.g. a full ``n x n`` attention matrix).

Examples::

    python tools/benchmarks/mil_scale.py                      # 2.5k .. 20k instances
    python tools/benchmarks/mil_scale.py --sizes 1000 2000 --models ABMIL
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODELS = {
    'ABMIL': dict(type='ABMIL'),
    'ABMIL-gated': dict(type='ABMIL', gated=True),
    'DSMIL': dict(type='DSMIL'),
    'TransMIL': dict(type='TransMIL'),
}

CHILD = r'''
import json, statistics, sys, time
import torch
torch.set_num_threads(int(sys.argv[4]))
from ssl_dense.registry import MODELS
import ssl_dense.models  # noqa: F401

def rss_kb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])

def reset_peak():
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')

cfg, n, repeats = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
mode = sys.argv[5]
torch.manual_seed(0)
model = MODELS.build(dict(cfg, in_channels=1024))
x = torch.randn(n, 1024)
times = []
for i in range(repeats + 1):
    model.zero_grad(set_to_none=True)
    if i == 0:
        base = rss_kb('VmRSS')
        reset_peak()
    start = time.perf_counter()
    if mode == 'train':
        res = model(x)
        torch.nn.functional.cross_entropy(res['logits'][None], torch.tensor([1])).backward()
    else:
        with torch.no_grad():
            res = model(x)
    times.append(time.perf_counter() - start)
    if i == 0:
        peak_mb = (rss_kb('VmHWM') - base) / 1024
    del res
print(json.dumps(dict(seconds=statistics.median(times[1:]), peak_mb=peak_mb)))
'''


def measure(cfg: dict, n: int, repeats: int, threads: int) -> dict:
    """``{'train': {...}, 'predict': {...}}`` with ``seconds`` and ``peak_mb``."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = {}
    for mode in ('train', 'predict'):
        proc = subprocess.run([sys.executable, '-c', CHILD, json.dumps(cfg), str(n),
                               str(repeats), str(threads), mode],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        if proc.returncode:
            raise RuntimeError(f'{cfg} n={n} {mode} failed:\n{proc.stderr[-2000:]}')
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    parser.add_argument('--sizes', nargs='+', type=int, default=[2500, 5000, 10000, 20000])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)
    if not osp.exists('/proc/self/clear_refs'):
        parser.error('needs Linux /proc/self/clear_refs to reset the peak memory')
    rows = []
    print(f'{"model":<12} {"instances":>9} {"train s":>8} {"train MB":>9} {"mem x2":>7} '
          f'{"predict s":>10} {"predict MB":>11}')
    for name in args.models:
        previous = None
        for n in sorted(args.sizes):
            res = measure(MODELS[name], n, args.repeats, args.threads)
            ratio = ''
            if previous and previous[0] * 2 == n and previous[1] > 0:
                ratio = f'{res["train"]["peak_mb"] / previous[1]:.2f}'
            print(f'{name:<12} {n:>9} {res["train"]["seconds"]:>8.3f} '
                  f'{res["train"]["peak_mb"]:>9.1f} {ratio:>7} {res["predict"]["seconds"]:>10.3f} '
                  f'{res["predict"]["peak_mb"]:>11.1f}', flush=True)
            rows.append(dict(model=name, instances=n, **res))
            previous = (n, res['train']['peak_mb'])
    return rows


if __name__ == '__main__':
    main()
