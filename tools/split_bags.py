"""Write stratified k-fold split files for MIL bag datasets.

Reads the bags and labels of a MIL CSV (``bag_label,bag_id,features...``) or
of a CLAM slide list (``case_id,slide_id,label``) and writes one split file
per fold, ``<out-dir>/fold<k>.csv`` with header ``bag_id,split`` (``train``,
``val`` or ``test``). Folds are stratified by label, seeded, without overlap:
every bag is in exactly one fold's test set. In a CLAM list, the slides of one
case (patient) always share a split, so no patient is in training and test
at once; a case is stratified by its slides' most common label.

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
from collections import Counter, defaultdict
from typing import Dict, List, Tuple

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


def read_bags(path: str, fmt: str) -> Dict[str, Tuple[str, object]]:
    """``{bag_id: (group, label)}``: a CLAM slide's group is its case (its
    own id without a ``case_id`` column), a MIL CSV bag is its own group
    (labels of CLAM lists stay strings: stratification only compares them)."""
    if fmt == 'mil':
        return {bag_id: (bag_id, b['label']) for bag_id, b in read_mil_csv(path).items()}
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows or not {'slide_id', 'label'} <= set(rows[0]):
        raise ValueError(f'{path}: a CLAM slide list needs the columns case_id,slide_id,label')
    bags = {}
    for row in rows:
        bags.setdefault(row['slide_id'], (row.get('case_id') or row['slide_id'], row['label']))
    return bags


def group_splits(bags: Dict[str, Tuple[str, object]], folds: int, seed: int,
                 val_fraction: float) -> List[Dict[str, str]]:
    """Stratified k-fold over the groups (cases); every bag takes its
    group's split in each fold."""
    labels = defaultdict(list)
    for group, label in bags.values():
        labels[group].append(label)
    groups = list(labels)  # first-appearance order: MIL CSV splits as before grouping
    group_label = [Counter(labels[g]).most_common(1)[0][0] for g in groups]
    splits = stratified_kfold(groups, group_label, folds, seed, val_fraction)
    return [{bag_id: assignment[group] for bag_id, (group, _) in bags.items()}
            for assignment in splits]


def main(argv=None):
    args = parse_args(argv)
    bags = read_bags(args.data, args.format)
    num_groups = len({group for group, _ in bags.values()})
    if num_groups < len(bags):
        print(f'{len(bags)} slides of {num_groups} cases: the slides of a case share a split')
    splits = group_splits(bags, args.folds, args.seed, args.val_fraction)
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
