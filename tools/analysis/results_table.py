"""Print a results JSON (docs/results/<family>.json) as a Markdown table.

One row per (schedule length, method, split): mean +- sample std over seeds
of every metric, the number of seeds, and the iterations.

    python tools/analysis/results_table.py docs/results/detection.json
    python tools/analysis/results_table.py docs/results/detection.json \
        --also work_dirs/quickstart/detection.json      # your run beside the table

Published numbers (``docs/results/<family>_published.json``, e.g. the ABMIL
paper's) are rows with a ``published`` key (the citation) and a ``std``
dict; they are printed as published, ``published`` in the seeds column.
"""
import argparse
import json
import statistics
from collections import defaultdict

# Run settings, not metrics (the peer's tuned hyper-parameters included).
NON_METRICS = {'method', 'split', 'seed', 'iters', 'epochs', 'folds', 'config', 'machine',
               'cls_pseudo_thr', 'momentum', 'selection', 'published', 'std'}
# Metrics in [0, 1] (MIL), printed with three decimals; the others are points.
UNIT_METRICS = {'accuracy', 'auc', 'accuracy_fold_std', 'balanced_accuracy', 'f1'}


def table(rows: list) -> str:
    """Markdown table of mean +- std per (method, split[, checkpoint selection])."""
    groups = defaultdict(list)
    length = 'iters' if any('iters' in r for r in rows) else 'epochs'
    # A 'selection' column (which checkpoint was tested) only when some row has one.
    with_selection = any('selection' in r for r in rows)
    for row in rows:
        groups[(row.get(length) or 0, row['method'], row['split'],
                row.get('selection', '—' if 'published' in row else 'last'))].append(row)
    metrics = sorted({k for r in rows for k in r if k not in NON_METRICS})
    head = '| method | split | ' + ('selection | ' if with_selection else '')
    lines = [head + ' | '.join(metrics) + f' | seeds | {length} |',
             '|---|---|' + '---|' * (len(metrics) + with_selection) + '---|---|']
    for (_, method, split, selection), group in sorted(groups.items()):
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
            elif len(values) == 1:
                cells.append(f'{values[0]:.{digits}f}')
            else:
                cells.append(f'{statistics.mean(values):.{digits}f} ± '
                             f'{statistics.stdev(values):.{digits}f}')
        iters = sorted({r.get(length) for r in group if r.get(length) is not None})
        first = f'| {method} | {split} | ' + (f'{selection} | ' if with_selection else '')
        count = 'published' if 'published' in group[0] else len(group)
        lines.append(first + ' | '.join(cells)
                     + f' | {count} | {", ".join(map(str, iters))} |')
    return '\n'.join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('results', help='results JSON file')
    parser.add_argument('--also', nargs='+', default=[],
                        help='more results files (e.g. your own run); their methods are '
                        'shown as "<method> (<file>)"')
    args = parser.parse_args(argv)
    with open(args.results) as f:
        rows = json.load(f)
    for path in args.also:
        with open(path) as f:
            rows += [dict(r, method=f'{r["method"]} ({path})') for r in json.load(f)]
    text = table(rows)
    print(text)
    return text


if __name__ == '__main__':
    main()
