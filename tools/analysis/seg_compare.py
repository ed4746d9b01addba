"""Side-by-side segmentation of one image by several checkpoints.

Draws the image's label map (if given) and each model's prediction as colour
overlays with a title, one panel per model, tiled in a grid; with a label map
each title also carries the model's mIoU on this image (classes present in
the label or the prediction; the ignore value left out).

Example (the CamVid picture in the README)::

    python tools/analysis/seg_compare.py data/camvid/test/0001TP_008910.jpg \\
        --label data/camvid/testannot/0001TP_008910.png \\
        --model "supervised 1/8" CONFIG_A CKPT_A --model "mean teacher 1/8" CONFIG_B CKPT_B \\
        --model "all labels" CONFIG_C CKPT_C --out docs/images/camvid_compare.jpg
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from ssl_dense.apis import SegPredictor, draw_segmentation  # noqa: E402
from ssl_dense.apis.segmentation import _task_model  # noqa: E402


def image_miou(pred: np.ndarray, label: np.ndarray, num_classes: int,
               ignore_index: Optional[int]) -> float:
    """mIoU (points) of one label map over the classes that appear in either
    map, pixels of ``ignore_index`` left out."""
    keep = np.ones_like(label, bool) if ignore_index is None else label != ignore_index
    ious = []
    for c in range(num_classes):
        p, t = (pred == c) & keep, (label == c) & keep
        union = (p | t).sum()
        if union:
            ious.append((p & t).sum() / union)
    return 100.0 * float(np.mean(ious)) if ious else float('nan')


def titled(panel: np.ndarray, title: str) -> np.ndarray:
    """The panel with a white title strip above it."""
    strip = np.full((28, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, panel], axis=0)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('image', help='image file')
    parser.add_argument('--model', nargs=3, action='append', required=True,
                        metavar=('NAME', 'CONFIG', 'CHECKPOINT'),
                        help='a panel: its title, config and checkpoint (repeat)')
    parser.add_argument('--label', help='label map of the image (drawn first; adds mIoU)')
    parser.add_argument('--ignore-index', type=int, default=None,
                        help="label left undrawn and out of the mIoU (default: the config's "
                        'decode head ignore_index, else none)')
    parser.add_argument('--cols', type=int, default=2, help='panels per row')
    parser.add_argument('--out', default='seg_compare.png', help='output image')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> np.ndarray:
    args = parse_args(argv)
    image = cv2.imread(args.image)
    if image is None:
        raise FileNotFoundError(f'cannot read image {args.image}')
    label = None
    if args.label:
        label = cv2.imread(args.label, cv2.IMREAD_UNCHANGED)
        if label is None:
            raise FileNotFoundError(f'cannot read label map {args.label}')
        if label.ndim == 3:
            label = label[..., 0]
        if label.shape != image.shape[:2]:
            raise ValueError(f'label map {args.label} is {label.shape[1]}x{label.shape[0]}, '
                             f'image {args.image} is {image.shape[1]}x{image.shape[0]}')
    panels = []
    for k, (name, config, checkpoint) in enumerate(args.model):
        predictor = SegPredictor(config, checkpoint, device=args.device)
        ignore = args.ignore_index
        if ignore is None:
            ignore = _task_model(predictor.cfg).get('decode_head', {}).get('ignore_index')
        classes, palette = predictor.classes, predictor.palette
        if k == 0 and label is not None:
            panels.append(titled(draw_segmentation(image, label, classes, palette,
                                                   ignore_index=ignore), 'ground truth'))
        pred = predictor(image)
        title = name
        if label is not None:
            title += f': {image_miou(pred, label, len(classes), ignore):.1f} mIoU'
        panels.append(titled(draw_segmentation(image, pred, classes, palette, legend=False),
                             title))
        print(title)
    blank = np.full_like(panels[0], 255)
    rows = [panels[i:i + args.cols] for i in range(0, len(panels), args.cols)]
    rows[-1] = rows[-1] + [blank] * (len(rows[0]) - len(rows[-1]))
    out = np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, out)
    print(f'{len(panels)} panel(s) -> {args.out}')
    return out


if __name__ == '__main__':
    main()
