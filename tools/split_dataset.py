"""Split a COCO json into labeled and unlabeled parts for semi-supervised training.

Examples::

    # 10 % of BCCD train labeled, folds with seeds 1, 2, 3
    python tools/split_dataset.py data/bccd/annotations/train.json \\
        --percent 10 --seed 1 --folds 3 --out-dir data/bccd/annotations/semi
    # exactly 20 labeled images
    python tools/split_dataset.py train.json --count 20 --seed 1

For each fold ``k`` (seed ``seed + k``) it writes
``<stem>.<tag>.seed<s>.labeled.json`` (the chosen images and their
annotations) and ``<stem>.<tag>.seed<s>.unlabeled.json`` (the other images,
without annotations; ``--keep-unlabeled-annotations`` keeps them for analysis
only, e.g. pseudo-label precision). Both keep ``categories``. Images are drawn
without replacement, so the two parts are disjoint and cover the input.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Tuple

import numpy as np


def split_coco(coco: Dict, num_labeled: int, seed: int,
               keep_unlabeled_annotations: bool = False) -> Tuple[Dict, Dict]:
    """Return (labeled, unlabeled) COCO dicts.

    Args:
        coco (dict): A COCO annotation dict.
        num_labeled (int): Images in the labeled part, 1 <= n < #images.
        seed (int): Seed of the draw (numpy ``default_rng``).
        keep_unlabeled_annotations (bool): Keep the annotations of the
            unlabeled images. Defaults to False.
    """
    images = coco.get('images') or []
    if not 1 <= num_labeled < len(images):
        raise ValueError(f'need 1 <= labeled images < {len(images)} (all images), '
                         f'got {num_labeled}')
    order = np.random.default_rng(seed).permutation(len(images))
    labeled_ids = {images[i]['id'] for i in order[:num_labeled]}
    parts = []
    for is_labeled in (True, False):
        part = {k: v for k, v in coco.items() if k not in ('images', 'annotations')}
        part['images'] = [im for im in images if (im['id'] in labeled_ids) == is_labeled]
        ids = {im['id'] for im in part['images']}
        if is_labeled or keep_unlabeled_annotations:
            part['annotations'] = [a for a in coco.get('annotations', []) if a['image_id'] in ids]
        else:
            part['annotations'] = []
        parts.append(part)
    return parts[0], parts[1]


def main(argv=None) -> List[str]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_file', help='COCO json to split')
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--percent', type=float, help='labeled share of images, in (0, 100)')
    group.add_argument('--count', type=int, help='number of labeled images')
    parser.add_argument('--seed', type=int, default=1, help='seed of the first fold')
    parser.add_argument('--folds', type=int, default=1,
                        help='number of splits, with seeds seed .. seed+folds-1')
    parser.add_argument('--out-dir', help='output folder (default: next to ann_file)')
    parser.add_argument('--keep-unlabeled-annotations', action='store_true',
                        help='keep annotations in the unlabeled json (analysis only)')
    args = parser.parse_args(argv)

    try:
        with open(args.ann_file) as f:
            coco = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        parser.error(f'cannot read COCO json {args.ann_file}: {err}')
    if not coco.get('categories'):
        parser.error(f'{args.ann_file} has no categories')
    num_images = len(coco.get('images') or [])
    if args.percent is not None:
        if not 0 < args.percent < 100:
            parser.error(f'--percent must be in (0, 100), got {args.percent}')
        num_labeled = max(1, round(num_images * args.percent / 100))
        tag = f'{args.percent:g}pct'
    else:
        num_labeled = args.count
        tag = f'{args.count}img'
    if not 1 <= num_labeled < num_images:
        parser.error(f'{args.ann_file} has {num_images} images; cannot label {num_labeled} '
                     'and leave at least one unlabeled')
    if args.folds < 1:
        parser.error(f'--folds must be >= 1, got {args.folds}')

    out_dir = args.out_dir or osp.dirname(osp.abspath(args.ann_file))
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(args.ann_file))[0]
    written = []
    for fold in range(args.folds):
        seed = args.seed + fold
        labeled, unlabeled = split_coco(coco, num_labeled, seed,
                                        args.keep_unlabeled_annotations)
        for name, part in (('labeled', labeled), ('unlabeled', unlabeled)):
            path = osp.join(out_dir, f'{stem}.{tag}.seed{seed}.{name}.json')
            with open(path, 'w') as f:
                json.dump(part, f)
            written.append(path)
        print(f'seed {seed}: {len(labeled["images"])} labeled images '
              f'({len(labeled["annotations"])} annotations), {len(unlabeled["images"])} '
              f'unlabeled -> {out_dir}/{stem}.{tag}.seed{seed}.*.json')
    return written


if __name__ == '__main__':
    main()
    sys.exit(0)
