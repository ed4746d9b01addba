"""Mean of training-log scalars over a range of iterations.

Reads the ``Iter(train) [i/N] ... key: value`` lines of an mmengine log and
prints, for every logged key matching one of ``--keys`` (regular
expressions), its mean over the lines with ``--from-iter <= i <= --to-iter``
and, with ``--share``, each key's share of the matching keys' total (e.g.
pseudo-labelled pixels per class)::

    python tools/analysis/log_scalars.py work_dirs/.../20261123_221346.log \\
        --keys 'pl_num_.*' --from-iter 1000 --share
    python tools/analysis/log_scalars.py LOG --keys 'thr_.*' --from-iter 1000
"""
import argparse
import re
from typing import Dict, List, Optional

LINE = re.compile(r'Iter\(train\) \[\s*(\d+)/\d+\](.*)')
SCALAR = re.compile(r'(\S+): (-?[\d.]+(?:e[-+]?\d+)?)')


def mean_scalars(log: str, patterns: List[str], from_iter: int = 0,
                 to_iter: Optional[int] = None) -> Dict[str, float]:
    """``{key: mean}`` over the training lines of ``log`` in the iteration
    range, for keys that fully match one of ``patterns`` (in log order)."""
    keys = [re.compile(p) for p in patterns]
    values: Dict[str, List[float]] = {}
    for match in LINE.finditer(log):
        it = int(match.group(1))
        if it < from_iter or (to_iter is not None and it > to_iter):
            continue
        for key, value in SCALAR.findall(match.group(2)):
            if any(k.fullmatch(key) for k in keys):
                values.setdefault(key, []).append(float(value))
    return {k: sum(v) / len(v) for k, v in values.items()}


def main(argv=None) -> Dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('log', help='mmengine training log')
    parser.add_argument('--keys', nargs='+', required=True, help='regular expressions')
    parser.add_argument('--from-iter', type=int, default=0)
    parser.add_argument('--to-iter', type=int, default=None)
    parser.add_argument('--share', action='store_true',
                        help="also print each key's share of the total")
    args = parser.parse_args(argv)
    with open(args.log) as f:
        means = mean_scalars(f.read(), args.keys, args.from_iter, args.to_iter)
    if not means:
        raise SystemExit(f'{args.log}: no training line in the range logs a key matching '
                         f'{args.keys}')
    total = sum(means.values())
    for key, value in means.items():
        share = f'  {100 * value / total:6.2f} %' if args.share and total else ''
        print(f'{key:<24} {value:12.4g}{share}')
    return means


if __name__ == '__main__':
    main()
