"""Scalars of mmengine training logs: means over an iteration range, or curves.

Reads the ``Iter(train) [i/N] ... key: value`` lines of one or more mmengine
logs and prints, for every logged key matching one of ``--keys`` (regular
expressions), its mean over the lines with ``--from-iter <= i <= --to-iter``
and, with ``--share``, each key's share of the matching keys' total (e.g.
pseudo-labelled pixels per class). ``--val`` also reads the validation lines
(``Iter(val) [..] key: value``, placed at the last training iteration logged
before them). ``--plot OUT.png`` draws every matching key against the
iteration, one panel per key and one line per log, so runs can be compared
at a glance (e.g. a 2k and a 4k schedule, or supervised against
semi-supervised)::

    python tools/analysis/log_scalars.py work_dirs/.../20261123_221346.log \\
        --keys 'pl_num_.*' --from-iter 1000 --share
    python tools/analysis/log_scalars.py LOG --keys 'thr_.*' --from-iter 1000
    python tools/analysis/log_scalars.py SUP.log SEMI.log --names supervised ours \\
        --keys 'decode.loss_ce' 'teacher/mIoU' --val --plot curves.png
"""
import argparse
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

#: ``Iter(train) [i/N]`` (iteration-based loops) or ``Epoch(train) [e][i/N]``
#: (epoch-based: iteration (e - 1) * N + i).
LINE = re.compile(r'(?:Iter|Epoch)\((train|val)\)\s*(?:\[(\d+)\])?\s*\[\s*(\d+)/(\d+)\](.*)')
SCALAR = re.compile(r'(\S+): (-?(?:nan|inf|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))'
                    r'(?=\s+\S+:\s|\s*$)')  # one number, then the next key or the end
#: Bookkeeping every training line has: left out unless a key names it exactly.
SKIP = {'eta', 'time', 'data_time', 'memory'}


def scalar_series(log: str, patterns: List[str], from_iter: int = 0,
                  to_iter: Optional[int] = None,
                  val: bool = False) -> Dict[str, List[Tuple[int, float]]]:
    """``{key: [(iteration, value), ...]}`` of the lines of ``log`` in the
    iteration range, for keys that fully match one of ``patterns`` (keys in
    log order). Validation lines count only with ``val``; they carry the last
    training iteration logged before them."""
    keys = [re.compile(p) for p in patterns]
    series: Dict[str, List[Tuple[int, float]]] = {}
    it = 0
    for match in LINE.finditer(log):
        kind, epoch, step, length, body = match.groups()
        if kind == 'train':
            it = int(step) + (int(epoch) - 1) * int(length) if epoch else int(step)
        elif not val:
            continue
        if it < from_iter or (to_iter is not None and it > to_iter):
            continue
        for key, value in SCALAR.findall(body):
            if key in SKIP and key not in patterns:
                continue
            if any(k.fullmatch(key) for k in keys):
                series.setdefault(key, []).append((it, float(value)))
    return series


def logged_keys(log: str) -> List[str]:
    """Every scalar key the training and validation lines of ``log`` carry."""
    return sorted({key for match in LINE.finditer(log)
                   for key, _ in SCALAR.findall(match.group(5))})


def mean_scalars(log: str, patterns: List[str], from_iter: int = 0,
                 to_iter: Optional[int] = None, val: bool = False) -> Dict[str, float]:
    """``{key: mean}`` over the lines of ``log`` in the iteration range (see
    :func:`scalar_series`)."""
    return series_means(scalar_series(log, patterns, from_iter, to_iter, val))


def series_means(series: Dict[str, List[Tuple[int, float]]]) -> Dict[str, float]:
    """``{key: mean of its values}`` of :func:`scalar_series` output."""
    return {k: sum(v for _, v in s) / len(s) for k, s in series.items()}


def run_name(path: str) -> str:
    """A short name for the run a log belongs to: the work directory of
    mmengine's ``<work_dir>/<timestamp>/<timestamp>.log``, else the file name
    without ``.log`` (e.g. a results script's ``<run>.train.log``)."""
    path = osp.abspath(path)
    stem = osp.basename(path)[:-len('.log')] if path.endswith('.log') else osp.basename(path)
    folder = osp.dirname(path)
    if osp.basename(folder) == stem:
        return osp.basename(osp.dirname(folder))
    return stem[:-len('.train')] if stem.endswith('.train') else stem


def plot_series(runs: Dict[str, Dict[str, List[Tuple[int, float]]]], out: str,
                columns: int = 3) -> None:
    """One panel per key, one line per run (``{run name: series}``), saved to ``out``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = list(dict.fromkeys(k for series in runs.values() for k in series))
    columns = min(columns, len(keys))
    rows = -(-len(keys) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for name, series in runs.items():
            points = series.get(key)
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker='o' if len(points) < 10 else None, ms=4, lw=1.2,
                        label=name)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis('off')
    if len(runs) > 1:
        axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> Dict[str, Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('logs', nargs='+', help='mmengine training logs')
    parser.add_argument('--keys', nargs='+', required=True, help='regular expressions')
    parser.add_argument('--names', nargs='+', help='a name per log (default: its folder)')
    parser.add_argument('--from-iter', type=int, default=0)
    parser.add_argument('--to-iter', type=int, default=None)
    parser.add_argument('--val', action='store_true', help='also read validation lines')
    parser.add_argument('--share', action='store_true',
                        help="also print each key's share of the total")
    parser.add_argument('--plot', metavar='OUT', help='draw the curves to this image')
    args = parser.parse_args(argv)
    names = args.names or [run_name(p) for p in args.logs]
    if len(names) != len(args.logs) or len(set(names)) != len(names):
        parser.error(f'--names needs one distinct name per log ({len(args.logs)} logs, names '
                     f'{names}); name them with --names')
    runs, means = {}, {}
    for name, path in zip(names, args.logs):
        with open(path) as f:
            log = f.read()
        series = scalar_series(log, args.keys, args.from_iter, args.to_iter, args.val)
        if not series:
            found = logged_keys(log)
            raise SystemExit(
                f'{path}: no {"" if args.val else "training "}line in the range logs a key '
                f'matching {args.keys}; '
                + (f'the log has {", ".join(found)}' if found else
                   'it has no Iter(train) or Epoch(train) lines at all'))
        runs[name] = series
        means[name] = series_means(series)
        total = sum(means[name].values())
        if len(args.logs) > 1:
            print(f'== {name} ({path})')
        for key, value in means[name].items():
            share = f'  {100 * value / total:6.2f} %' if args.share and total else ''
            print(f'{key:<24} {value:12.4g}{share}')
    if args.plot:
        plot_series(runs, args.plot)
        print(f'curves of {len({k for s in runs.values() for k in s})} keys -> {args.plot}')
    return means


if __name__ == '__main__':
    main()
