"""Write stratified k-fold split files for MIL bag datasets.

Reads the bags and labels of a MIL CSV (``bag_label,bag_id,features...``) or
of a CLAM slide list (``case_id,slide_id,label``) and writes one split file
per fold, ``<out-dir>/fold<k>.csv`` with header ``bag_id,split`` (``train``,
``val`` or ``test``). Folds are stratified by label, seeded, without overlap:
every bag is in exactly one fold's test set.

Examples::

    python tools/split_bags.py ../shared/data/mil/musk1.csv --folds 10 --seed 1 \\
        --out-dir data/mil/splits/musk1/seed1
    python tools/split_bags.py slides.csv --format clam --folds 5 --val-fraction 0.1 \\
        --out-dir splits/camelyon
"""
import argparse
import csv
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from ssl_dense.datasets.mil import read_mil_csv, stratified_kfold  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data', help='MIL CSV or CLAM slide list')
    parser.add_argument('--format', choices=('mil', 'clam'), default='mil',
                        help='mil: bag_label,bag_id,features... (no header); '
                        'clam: case_id,slide_id,label (header)')
    parser.add_argument('--folds', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--val-fraction', type=float, default=0.0,
                        help='fraction of each fold\'s training bags used for validation')
    parser.add_argument('--out-dir', required=True)
    return parser.parse_args(argv)


def read_bags(path: str, fmt: str):
    """Bag ids and labels (labels as strings for CLAM lists: stratification
    only needs them to be comparable)."""
    if fmt == 'mil':
        bags = read_mil_csv(path)
        return list(bags), [b['label'] for b in bags.values()]
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows or not {'slide_id', 'label'} <= set(rows[0]):
        raise ValueError(f'{path}: a CLAM slide list needs the columns case_id,slide_id,label')
    labels = {}
    for row in rows:
        labels.setdefault(row['slide_id'], row['label'])
    return list(labels), list(labels.values())


def main(argv=None):
    args = parse_args(argv)
    bag_ids, labels = read_bags(args.data, args.format)
    splits = stratified_kfold(bag_ids, labels, args.folds, args.seed, args.val_fraction)
    os.makedirs(args.out_dir, exist_ok=True)
    paths = []
    for k, assignment in enumerate(splits):
        path = osp.join(args.out_dir, f'fold{k}.csv')
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['bag_id', 'split'])
            writer.writerows(assignment.items())
        paths.append(path)
        counts = {s: sum(v == s for v in assignment.values()) for s in ('train', 'val', 'test')}
        print(f'{path}: ' + ', '.join(f'{n} {s}' for s, n in counts.items()))
    return paths


if __name__ == '__main__':
    main()
