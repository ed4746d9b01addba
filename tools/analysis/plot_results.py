"""Plot a results JSON (docs/results/<family>.json): every run as a dot.

One panel per split; one column per method (the baseline first, then the
others in name order, ``supervised_full`` last); one dot per seed with its
seed number beside it, a bar at the mean, and thin lines joining the same
seed across methods (the mean is labelled with the number of runs where a
method has fewer than the panel's seeds), so a reader sees at a glance both the spread over seeds
and how often a method beats the baseline on the same split seed. The
baseline's mean is a dashed line; ``--target-gain G`` adds a dotted line G
points above it (an issue's target). Published rows and rows without the
metric are left out; only runs of the most common schedule length are drawn.

    python tools/analysis/plot_results.py docs/results/pose.json --metric PCK \\
        --target-gain 5 --out docs/images/pose_results.png
"""
import argparse
import json
import os.path as osp
import statistics
import sys
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from results_table import UNIT_METRICS  # noqa: E402

SEED_COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b']


def _runs(rows: List[dict], metric: str, recipe: Optional[Tuple[int, Optional[int]]] = None
          ) -> Tuple[Dict[str, Dict[str, Dict[int, float]]], str]:
    """split -> method -> seed -> value, for ``recipe`` (schedule length,
    input size or None) or else the most common recipe; and that recipe in
    words (e.g. ``1000 iters`` or ``1000 iters, 128x128 input``)."""
    usable = [r for r in rows if 'published' not in r and r.get(metric) is not None]
    if not usable:
        found = sorted({k for r in rows for k in r})
        raise KeyError(f'no run has the metric {metric!r}; keys in the file: {found}')
    unit = 'iters' if any('iters' in r for r in usable) else 'epochs'
    counts = Counter((r.get(unit), r.get('input_size')) for r in usable)
    if recipe is not None and tuple(recipe) not in counts:
        raise KeyError(f'no run with {metric!r} of the recipe {tuple(recipe)}; recipes: '
                       f'{sorted(counts, key=str)}')
    length, size = tuple(recipe) if recipe is not None else counts.most_common(1)[0][0]
    runs = defaultdict(lambda: defaultdict(dict))
    for r in usable:
        if (r.get(unit), r.get('input_size')) == (length, size):
            # Runs that tested another checkpoint than the last are their own column.
            method = r['method'] + (f' ({r["selection"]})' if r.get('selection', 'last')
                                    != 'last' else '')
            runs[r['split']][method][int(r.get('seed', 0))] = float(r[metric])
    return runs, f'{length} {unit}' + (f', {size}x{size} input' if size else '')


def _order(methods, baseline: str, wanted: Optional[List[str]] = None) -> List[str]:
    if wanted:
        return [m for m in wanted if m in methods]
    last = [m for m in methods if m.endswith('_full')]
    first = [baseline] if baseline in methods else []
    return first + sorted(m for m in methods if m not in first + last) + sorted(last)


def plot(rows: List[dict], metric: str, out: str, baseline: str = 'supervised',
         target_gain: Optional[float] = None, title: Optional[str] = None,
         methods: Optional[List[str]] = None,
         recipe: Optional[Tuple[int, Optional[int]]] = None) -> str:
    """Draw the figure described in the module docstring to ``out``; return ``out``.

    Args:
        rows (list[dict]): Rows of a results JSON.
        metric (str): Key of the value to plot (e.g. ``PCK``, ``mIoU``).
        out (str): Image file to write (format from its extension).
        baseline (str): Method drawn first, whose mean is the dashed line.
        target_gain (float, optional): Draw the baseline mean plus this.
        title (str, optional): Figure title; the schedule length drawn
            (e.g. ``1000 iters``) is added to it.
        methods (list[str], optional): Methods to draw, in this order.
            Defaults to all: the baseline, the others by name, ``*_full``.
        recipe (tuple, optional): ``(schedule length, input size)`` of the
            runs to draw (input size None where rows have none); defaults to
            the recipe with the most runs.
    """
    runs, length = _runs(rows, metric, recipe)
    # Splits that hold only *_full rows (e.g. '100pct') join every panel instead.
    full = {m: s for split in runs for m, s in runs[split].items() if m.endswith('_full')}
    splits = [s for s in sorted(runs) if any(not m.endswith('_full') for m in runs[s])]
    orders = {s: _order(dict(runs[s], **full), baseline, methods) for s in splits}
    splits = [s for s in splits if orders[s]]
    if not splits:
        raise KeyError(f'none of the methods {methods} has a run with {metric!r}')
    columns = [len(orders[s]) for s in splits]
    stacked = sum(columns) > 14
    if not stacked:  # side by side, one scale
        fig, axes = plt.subplots(1, len(splits), squeeze=False, sharey=True,
                                 gridspec_kw=dict(width_ratios=columns),
                                 figsize=(1.5 + 1.1 * sum(columns), 4.2))
        axes = list(axes[0])
    else:  # one panel per row, each with its own scale
        fig, axes = plt.subplots(len(splits), 1, squeeze=False,
                                 figsize=(1.5 + 1.1 * max(columns), 3.6 * len(splits)))
        axes = list(axes[:, 0])
    for ax, split in zip(axes, splits):
        methods_here = dict(runs[split], **full)
        order = orders[split]
        seeds = sorted({seed for m in order for seed in methods_here[m]})
        for si, seed in enumerate(seeds):
            colour = SEED_COLOURS[si % len(SEED_COLOURS)]
            xs = [i for i, m in enumerate(order) if seed in methods_here[m]]
            ys = [methods_here[order[i]][seed] for i in xs]
            ax.plot(xs, ys, '-', color=colour, alpha=0.25, lw=1)
            ax.plot(xs, ys, 'o', color=colour, ms=6, label=f'seed {seed}')
        for i, m in enumerate(order):
            values = list(methods_here[m].values())
            mean = statistics.mean(values)
            ax.plot([i - 0.3, i + 0.3], [mean, mean], '-', color='black', lw=2)
            digits = 3 if metric in UNIT_METRICS else 1
            label = f'{mean:.{digits}f}'
            if len(values) < len(seeds):  # fewer runs than the other methods
                label += f' (n={len(values)})'
            ax.annotate(label, (i + 0.32, mean), va='center', fontsize=8)
        if baseline in methods_here:
            base = statistics.mean(methods_here[baseline].values())
            ax.axhline(base, ls='--', color='grey', lw=1)
            if target_gain is not None:
                ax.axhline(base + target_gain, ls=':', color='black', lw=1)
                ax.annotate(f'target +{target_gain:g}', (len(order) - 0.5, base + target_gain),
                            va='bottom', ha='right', fontsize=8)
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels(order, rotation=35, ha='right', fontsize=8)
        ax.set_xlim(-0.5, len(order) + 0.15)
        ax.set_title(f'split {split}', fontsize=10)
        ax.grid(axis='y', alpha=0.3)
    for ax in axes if stacked else axes[:1]:
        ax.set_ylabel(metric)
    axes[-1].legend(fontsize=8, loc='lower right')
    fig.suptitle(f'{title}, {length} per run' if title else f'{metric}, {length} per run',
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('results', help='results JSON file')
    parser.add_argument('--metric', required=True, help='metric to plot (e.g. PCK, mIoU)')
    parser.add_argument('--out', required=True, help='image file to write (.png, .svg, ...)')
    parser.add_argument('--baseline', default='supervised', help='method drawn first')
    parser.add_argument('--target-gain', type=float, help='also draw baseline mean + this')
    parser.add_argument('--title', help='figure title')
    parser.add_argument('--methods', nargs='+', help='methods to draw, in this order')
    parser.add_argument('--recipe', type=int, nargs='+', metavar=('ITERS', 'INPUT'),
                        help='draw the runs of this schedule length (and input size) '
                        'instead of the recipe with the most runs')
    args = parser.parse_args(argv)
    recipe = None
    if args.recipe:
        recipe = (args.recipe[0], args.recipe[1] if len(args.recipe) > 1 else None)
    with open(args.results) as f:
        rows = json.load(f)
    try:
        out = plot(rows, args.metric, args.out, args.baseline, args.target_gain, args.title,
                   args.methods, recipe)
    except KeyError as err:
        raise SystemExit(f'{args.results}: {err.args[0]}')
    print(f'wrote {out}')
    return out


if __name__ == '__main__':
    main()
