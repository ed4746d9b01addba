"""Where a top-down pose model misses: PCK and median error per keypoint.

Runs a pose config + checkpoint on every annotated instance of a COCO
keypoint file (the config's test annotations by default) with the annotated
box, and prints per keypoint, and per keypoint ``type`` of the dataset meta
(e.g. ``upper`` / ``lower``), the PCK at the given thresholds and the median
distance to the truth, both as a fraction of the box size (the longer box
side, as in mmpose's ``PCKAccuracy(norm_item='bbox')``). Also prints the
heatmap cell size as a fraction of the box size, to tell localisation limits
from misses.

Example::

    python tools/analysis/pose_errors.py configs/topdown_heatmap/td-hm_effl0_1xb8-1k_bee.py \\
        work_dirs/td-hm_effl0_1xb8-1k_bee/iter_1000.pth
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

import cv2
import numpy as np
from mmengine.utils import ProgressBar

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from ssl_dense.apis import PosePredictor  # noqa: E402
from ssl_dense.apis.pose import _codec  # noqa: E402


def keypoint_errors(predictor: PosePredictor, ann_file: str, img_root: str) -> np.ndarray:
    """(N, K) normalised distances of the N annotated instances (NaN where
    the keypoint is not visible)."""
    with open(ann_file) as f:
        coco = json.load(f)
    images = {img['id']: img for img in coco['images']}
    anns = [a for a in coco['annotations'] if any(v > 0 for v in a['keypoints'][2::3])]
    if not anns:
        raise ValueError(f'{ann_file} has no annotation with a visible keypoint')
    errors = []
    progress = ProgressBar(len(anns))
    for ann in anns:
        path = osp.join(img_root, images[ann['image_id']]['file_name'])
        image = cv2.imread(path)
        if image is None:
            raise FileNotFoundError(f'cannot read {path} (annotation {ann.get("id")})')
        x, y, w, h = ann['bbox']
        box = np.array([[x, y, x + w, y + h]], dtype=np.float32)
        pred = predictor(image, boxes=box)[0]['keypoints']  # padded as in testing
        truth = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
        err = np.linalg.norm(pred - truth[:, :2], axis=1) / max(w, h)
        err[truth[:, 2] <= 0] = np.nan
        errors.append(err)
        progress.update()
    print()
    return np.stack(errors)


def summarise(errors: np.ndarray, groups: Dict[str, List[int]],
              thresholds: List[float]) -> List[dict]:
    """Rows ``name, n, pck@t..., median`` for each group of keypoint indices."""
    rows = []
    for name, idx in groups.items():
        err = errors[:, idx]
        valid = ~np.isnan(err)
        row = dict(name=name, n=int(valid.sum()))
        for t in thresholds:
            row[f'PCK@{t:g}'] = 100.0 * float((err[valid] < t).mean()) if valid.any() else np.nan
        row['median'] = float(np.nanmedian(err)) if valid.any() else np.nan
        rows.append(row)
    return rows


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--ann-file', help='COCO keypoint file (default: the config\'s test one)')
    parser.add_argument('--img-root', help='image folder of the file names (default: the '
                        "config's test data_root + data_prefix.img)")
    parser.add_argument('--thr', type=float, nargs='+', default=[0.05, 0.1])
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    predictor = PosePredictor(args.config, args.checkpoint, device=args.device)
    dataset = predictor.cfg.test_dataloader.dataset
    root = dataset.get('data_root', '')
    ann_file = args.ann_file or osp.join(root, dataset['ann_file'])
    img_root = args.img_root or osp.join(root, (dataset.get('data_prefix') or {}).get('img', ''))
    errors = keypoint_errors(predictor, ann_file, img_root)
    names = predictor.meta['keypoint_id2name']
    groups = {'all': list(range(errors.shape[1]))}
    for kind in ('upper', 'lower'):
        ids = predictor.meta.get(f'{kind}_body_ids') or []
        if 0 < len(ids) < errors.shape[1]:
            groups[f'type {kind}'] = list(ids)
    groups.update({names[k]: [k] for k in range(errors.shape[1])})
    rows = summarise(errors, groups, args.thr)
    # Crop side = 1.25 x the longer box side (GetBBoxCenterScale, square input).
    cells = _codec(predictor.cfg)['heatmap_size'][0]
    cell = 1.25 / cells
    print(f'{errors.shape[0]} instances of {ann_file}; one heatmap cell = {100 * cell:.1f} % '
          'of the box size')
    keys = ['n'] + [f'PCK@{t:g}' for t in args.thr] + ['median']
    print(f'{"keypoint":<24}' + ''.join(f'{k:>10}' for k in keys))
    for row in rows:
        row_cells = [f'{row["n"]:>10d}'] + [f'{row[k]:>10.1f}' for k in keys[1:-1]] + [
            f'{100 * row["median"]:>9.1f}%']
        print(f'{row["name"]:<24}' + ''.join(row_cells))
    return rows


if __name__ == '__main__':
    main()
