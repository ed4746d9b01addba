"""Print a results JSON (docs/results/<family>.json) as a Markdown table.

One row per (schedule length[, input size], method, split): mean +- sample std over seeds
of every metric, the number of seeds, and the iterations. A metric that only some of a
row's runs have is followed by ``(n of N)``.

    python tools/analysis/results_table.py docs/results/detection.json
    python tools/analysis/results_table.py docs/results/detection.json \
        --also work_dirs/quickstart/detection.json      # your run beside the table

Published numbers (``docs/results/<family>_published.json``, e.g. the ABMIL
paper's) are rows with a ``published`` key (the citation) and a ``std``
dict; they are printed as published, ``published`` in the seeds column.

``--paired supervised --metric mIoU`` prints the run-by-run comparison
instead: per split, each method's value for every seed beside the baseline's
value for the same seed (split seeds differ a lot, so a difference of means
over seeds hides how often a method wins).

    python tools/analysis/results_table.py docs/results/segmentation.json \
        --paired supervised --metric mIoU
"""
import argparse
import json
import statistics
from collections import defaultdict

# Run settings, not metrics (the peer's tuned hyper-parameters included).
NON_METRICS = {'method', 'split', 'seed', 'iters', 'epochs', 'input_size', 'folds', 'config',
               'machine', 'cls_pseudo_thr', 'momentum', 'selection', 'published', 'std',
               'overrides', 'chosen', 'selected_by', 'candidates', 'swa_from_epoch'}
# Metrics in [0, 1] (MIL), printed with three decimals; the others are points.
UNIT_METRICS = {'accuracy', 'auc', 'accuracy_fold_std', 'balanced_accuracy', 'f1'}


def table(rows: list) -> str:
    """Markdown table of mean +- std per (method, split[, checkpoint
    selection]) and recipe (schedule length[, input size])."""
    groups = defaultdict(list)
    length = 'iters' if any('iters' in r for r in rows) else 'epochs'
    # A 'selection' column (which checkpoint was tested) only when some row
    # has one; an 'input' column (crop side) likewise.
    with_selection = any('selection' in r for r in rows)
    with_size = any('input_size' in r for r in rows)
    for row in rows:
        groups[(row.get(length) or 0, row.get('input_size') or 0, row['method'], row['split'],
                row.get('selection', '—' if 'published' in row else 'last'))].append(row)
    metrics = sorted({k for r in rows for k in r if k not in NON_METRICS})
    head = '| method | split | ' + ('selection | ' if with_selection else '')
    tail = f' | seeds | {length} |' + (' input |' if with_size else '')
    lines = [head + ' | '.join(metrics) + tail,
             '|---|---|' + '---|' * (len(metrics) + with_selection + with_size) + '---|---|']
    for (_, size, method, split, selection), group in sorted(groups.items()):
        cells = []
        for m in metrics:
            values = [r[m] for r in group if r.get(m) is not None]
            digits = 3 if m in UNIT_METRICS else 1
            if 'published' in group[0]:
                std = group[0].get('std', {}).get(m)
                cells.append('' if not values else f'{values[0]:.{digits}f}' + (
                    '' if std is None else f' ± {std:.{digits}f}'))
                continue
            if not values:
                cells.append('')
                continue
            if len(values) == 1:
                cell = f'{values[0]:.{digits}f}'
            else:
                cell = (f'{statistics.mean(values):.{digits}f} ± '
                        f'{statistics.stdev(values):.{digits}f}')
            # A metric only some of the group's runs report (e.g. a key added
            # later) says over how many runs it is taken.
            cells.append(cell + (f' ({len(values)} of {len(group)})'
                                 if len(values) < len(group) else ''))
        iters = sorted({r.get(length) for r in group if r.get(length) is not None})
        first = f'| {method} | {split} | ' + (f'{selection} | ' if with_selection else '')
        count = 'published' if 'published' in group[0] else len(group)
        lines.append(first + ' | '.join(cells)
                     + f' | {count} | {", ".join(map(str, iters))} |'
                     + (f' {size or ""} |' if with_size else ''))
    return '\n'.join(lines)


def _seed_note(seeds: list) -> str:
    """``(seed 1)`` or ``(seeds 1, 2, 3)``."""
    return f'(seed{"s" if len(seeds) > 1 else ""} {", ".join(map(str, seeds))})'


def paired(rows: list, baseline: str, metric: str) -> str:
    """Markdown table: per split and method, ``metric`` seed by seed, its
    difference from ``baseline`` on the same split and seed, the mean
    difference and how many seeds it wins. Only runs of the same schedule
    length (and input size, where rows name one) and seed are compared;
    published rows are left out."""
    runs = defaultdict(dict)
    for row in rows:
        if 'published' not in row and row.get(metric) is not None:
            length = (row.get('iters', row.get('epochs')) or 0, row.get('input_size') or 0)
            method = row['method'] + (f' ({row["selection"]})' if 'selection' in row else '')
            runs[(length, row['split'], method)][row['seed']] = row[metric]
    splits = sorted({(length, split) for length, split, method in runs if method == baseline})
    if not splits:
        raise KeyError(f'no {baseline!r} rows with {metric!r} to compare against')
    digits = 3 if metric in UNIT_METRICS else 1
    fmt = lambda v: f'{v:+.{digits}f}' if v else f'{0:.{digits}f}'  # noqa: E731
    unit = 'iters' if any('iters' in r for r in rows) else 'epochs'
    unit += ' @ input' if any('input_size' in r for r in rows) else ''
    lines = [f'| split | {unit} | method | {metric} by seed | − {baseline} | mean difference '
             '| wins |', '|---|---|---|---|---|---|---|']
    for length, split in splits:
        base = runs[(length, split, baseline)]
        recipe = f'{length[0]}' + (f' @ {length[1]}' if length[1] else '')
        lines.append(f'| {split} | {recipe} | {baseline} | '
                     + ' / '.join(f'{base[s]:.{digits}f}' for s in sorted(base))
                     + f' {_seed_note(sorted(base))} | | | |')
        for (other, where, method), values in sorted(runs.items()):
            seeds = sorted(set(values) & set(base))
            if (other, where) != (length, split) or method == baseline or not seeds:
                continue
            diffs = [round(values[s] - base[s], digits) for s in seeds]
            lines.append(
                f'| {split} | {recipe} | {method} | '
                + ' / '.join(f'{values[s]:.{digits}f}' for s in seeds)
                + (f' {_seed_note(seeds)}' if seeds != sorted(base) else '')
                + ' | ' + ' / '.join(fmt(d) for d in diffs)
                + f' | {fmt(round(statistics.mean(diffs), digits))}'
                + f' | {sum(d > 0 for d in diffs)}/{len(diffs)} |')
    return '\n'.join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('results', help='results JSON file')
    parser.add_argument('--also', nargs='+', default=[],
                        help='more results files (e.g. your own run); their methods are '
                        'shown as "<method> (<file>)"')
    parser.add_argument('--paired', metavar='BASELINE',
                        help='print each method against this one, seed by seed')
    parser.add_argument('--metric', help='the metric --paired compares (e.g. mIoU, PCK)')
    args = parser.parse_args(argv)
    if args.paired and not args.metric:
        parser.error('--paired needs --metric')
    with open(args.results) as f:
        rows = json.load(f)
    for path in args.also:
        with open(path) as f:
            rows += [dict(r, method=f'{r["method"]} ({path})') for r in json.load(f)]
    text = paired(rows, args.paired, args.metric) if args.paired else table(rows)
    print(text)
    return text


if __name__ == '__main__':
    main()
