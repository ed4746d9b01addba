"""Split a dataset into labeled and unlabeled parts for semi-supervised training.

The input is a COCO json (detection, pose) or a folder of images
(segmentation: the parts are text files of image names, as mmseg's
``ann_file`` expects).

Examples::

    # 10 % of BCCD train labeled, folds with seeds 1, 2, 3
    python tools/split_dataset.py data/bccd/annotations/train.json \\
        --percent 10 --seed 1 --folds 3 --out-dir data/bccd/annotations/semi
    # exactly 20 labeled images
    python tools/split_dataset.py train.json --count 20 --seed 1
    # 1/8 of the CamVid train images, 3 folds -> camvid/splits/train.1-8.seed1.labeled.txt ...
    python tools/split_dataset.py data/camvid/train --fraction 1/8 --folds 3 \\
        --out-dir data/camvid/splits

For each fold ``k`` (seed ``seed + k``) it writes
``<stem>.<tag>.seed<s>.labeled.json`` (the chosen images and their
annotations) and ``<stem>.<tag>.seed<s>.unlabeled.json`` (the other images,
without annotations; ``--keep-unlabeled-annotations`` keeps them for analysis
only, e.g. pseudo-label precision). Both keep ``categories``. For a folder,
``<folder>.<tag>.seed<s>.{labeled,unlabeled}.txt`` list image names without
suffix. Images are drawn without replacement, so the two parts are disjoint
and cover the input.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Tuple

import numpy as np


def split_coco(coco: Dict, num_labeled: int, seed: int,
               keep_unlabeled_annotations: bool = False,
               labeled_from_annotated: bool = False) -> Tuple[Dict, Dict]:
    """Return (labeled, unlabeled) COCO dicts.

    Args:
        coco (dict): A COCO annotation dict.
        num_labeled (int): Images in the labeled part, 1 <= n < #images.
        seed (int): Seed of the draw (numpy ``default_rng``).
        keep_unlabeled_annotations (bool): Keep the annotations of the
            unlabeled images. Defaults to False.
        labeled_from_annotated (bool): Draw the labeled images only among
            images with at least one annotation that labels something: a
            keypoint annotation needs a visible keypoint (images without,
            e.g. bee photos without keypoints, which the supervised loss
            would skip, then always end up unlabeled). Defaults to False.
    """
    images = coco.get('images') or []
    if not 1 <= num_labeled < len(images):
        raise ValueError(f'need 1 <= labeled images < {len(images)} (all images), '
                         f'got {num_labeled}')
    pool = images
    if labeled_from_annotated:
        annotated = {a['image_id'] for a in coco.get('annotations', []) if _labels_something(a)}
        pool = [im for im in images if im['id'] in annotated]
        if num_labeled > len(pool):
            raise ValueError(f'need {num_labeled} labeled images but only {len(pool)} images '
                             'have annotations (with a visible keypoint, for keypoints)')
    order = np.random.default_rng(seed).permutation(len(pool))
    labeled_ids = {pool[i]['id'] for i in order[:num_labeled]}
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


def _labels_something(ann: Dict) -> bool:
    """An annotation with a supervised signal: any box, but keypoints only
    with at least one visible (mmpose skips instances without)."""
    if 'keypoints' not in ann:
        return True
    return any(v > 0 for v in ann['keypoints'][2::3])


def split_names(names: List[str], num_labeled: int, seed: int) -> Tuple[List[str], List[str]]:
    """Return (labeled, unlabeled) name lists, each in input order."""
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(len(names), size=num_labeled, replace=False).tolist())
    return ([n for i, n in enumerate(names) if i in chosen],
            [n for i, n in enumerate(names) if i not in chosen])


def _fraction(text: str) -> float:
    try:
        num, den = (float(v) for v in text.split('/')) if '/' in text else (float(text), 1.0)
        return num / den
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f'expected a fraction like 1/8, got {text!r}')


def main(argv=None) -> List[str]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_file', help='COCO json, or folder of images, to split')
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--percent', type=float, help='labeled share of images, in (0, 100)')
    group.add_argument('--fraction', type=_fraction,
                       help='labeled share as a fraction, e.g. 1/8 (tag "1-8")')
    group.add_argument('--count', type=int, help='number of labeled images')
    parser.add_argument('--seed', type=int, default=1, help='seed of the first fold')
    parser.add_argument('--folds', type=int, default=1,
                        help='number of splits, with seeds seed .. seed+folds-1')
    parser.add_argument('--out-dir', help='output folder (default: next to ann_file)')
    parser.add_argument('--keep-unlabeled-annotations', action='store_true',
                        help='keep annotations in the unlabeled json (analysis only)')
    parser.add_argument('--labeled-from-annotated', action='store_true',
                        help='draw labeled images only among images with annotations (for '
                        'keypoints: a visible one; the share still counts all images)')
    parser.add_argument('--img-suffix', default='.jpg', help='image suffix in folder mode')
    args = parser.parse_args(argv)
    if osp.isdir(args.ann_file):
        return _split_folder(parser, args)

    try:
        with open(args.ann_file) as f:
            coco = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        parser.error(f'cannot read COCO json {args.ann_file}: {err}')
    if not coco.get('categories'):
        parser.error(f'{args.ann_file} has no categories')
    num_labeled, tag = _num_labeled(parser, args, len(coco.get('images') or []))

    out_dir = args.out_dir or osp.dirname(osp.abspath(args.ann_file))
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(args.ann_file))[0]
    written = []
    for fold in range(args.folds):
        seed = args.seed + fold
        try:
            labeled, unlabeled = split_coco(coco, num_labeled, seed,
                                            args.keep_unlabeled_annotations,
                                            args.labeled_from_annotated)
        except ValueError as err:
            parser.error(f'{args.ann_file}: {err}')
        for name, part in (('labeled', labeled), ('unlabeled', unlabeled)):
            path = osp.join(out_dir, f'{stem}.{tag}.seed{seed}.{name}.json')
            with open(path, 'w') as f:
                json.dump(part, f)
            written.append(path)
        print(f'seed {seed}: {len(labeled["images"])} labeled images '
              f'({len(labeled["annotations"])} annotations), {len(unlabeled["images"])} '
              f'unlabeled -> {out_dir}/{stem}.{tag}.seed{seed}.*.json')
    return written


def _num_labeled(parser, args, num_images: int) -> Tuple[int, str]:
    """Number of labeled images and the file-name tag of the split."""
    if args.percent is not None:
        if not 0 < args.percent < 100:
            parser.error(f'--percent must be in (0, 100), got {args.percent}')
        num_labeled = max(1, round(num_images * args.percent / 100))
        tag = f'{args.percent:g}pct'
    elif args.fraction is not None:
        if not 0 < args.fraction < 1:
            parser.error(f'--fraction must be in (0, 1), got {args.fraction:g}')
        num_labeled = max(1, round(num_images * args.fraction))
        tag = f'1-{round(1 / args.fraction)}' if abs(
            1 / args.fraction - round(1 / args.fraction)) < 1e-9 else f'{args.fraction:g}'
    else:
        num_labeled = args.count
        tag = f'{args.count}img'
    if not 1 <= num_labeled < num_images:
        parser.error(f'{args.ann_file} has {num_images} images; cannot label {num_labeled} '
                     'and leave at least one unlabeled')
    if args.folds < 1:
        parser.error(f'--folds must be >= 1, got {args.folds}')
    return num_labeled, tag


def _split_folder(parser, args) -> List[str]:
    """Folder mode: text files of image names (no suffix), for mmseg ann_file."""
    suffix = args.img_suffix
    names = sorted(f[:-len(suffix)] for f in os.listdir(args.ann_file) if f.endswith(suffix))
    if not names:
        parser.error(f'no image with suffix {suffix!r} in {args.ann_file}')
    num_labeled, tag = _num_labeled(parser, args, len(names))
    folder = osp.basename(osp.normpath(args.ann_file))
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.ann_file))
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for fold in range(args.folds):
        seed = args.seed + fold
        parts = split_names(names, num_labeled, seed)
        for name, part in zip(('labeled', 'unlabeled'), parts):
            path = osp.join(out_dir, f'{folder}.{tag}.seed{seed}.{name}.txt')
            with open(path, 'w') as f:
                f.write('\n'.join(part) + '\n')
            written.append(path)
        print(f'seed {seed}: {len(parts[0])} labeled, {len(parts[1])} unlabeled images -> '
              f'{out_dir}/{folder}.{tag}.seed{seed}.*.txt')
    return written


if __name__ == '__main__':
    main()
    sys.exit(0)
