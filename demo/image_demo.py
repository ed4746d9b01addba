"""Draw a detector's predictions on an image or on every image of a folder.

Examples::

    python demo/image_demo.py data/bccd/images/BloodImage_00001.jpg \\
        configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd.py \\
        work_dirs/quickstart/iter_1000.pth --out-dir outputs/
    python demo/image_demo.py data/bccd/images CONFIG CHECKPOINT --score-thr 0.5

Writes ``<out-dir>/vis/<image name>`` with boxes, class names and scores, and
prints how many boxes of each class passed the score threshold.
"""
import argparse
import os
import os.path as osp
from collections import Counter

import ssl_dense  # noqa: F401  (installs the weights_only checkpoint loader)
from ssl_dense.utils import trust_checkpoint_file

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', default='outputs', help='output folder')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw boxes with at least this score')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow the checkpoint to be unpickled with weights_only=False '
                        '(only for files you trust)')
    return parser.parse_args(argv)


def list_images(inputs: str) -> list:
    """Return the image files named by ``inputs`` (a file or a folder)."""
    if osp.isdir(inputs):
        files = sorted(osp.join(inputs, f) for f in os.listdir(inputs)
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise FileNotFoundError(f'no image ({", ".join(IMAGE_EXTENSIONS)}) in folder '
                                    f'{inputs}')
        return files
    if not osp.isfile(inputs):
        raise FileNotFoundError(f'input {inputs} is neither an image file nor a folder')
    return [inputs]


def main(argv=None) -> Counter:
    args = parse_args(argv)
    from mmdet.apis import DetInferencer
    images = list_images(args.inputs)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist')
    if args.trust_checkpoint:
        trust_checkpoint_file(args.checkpoint)
    # Build in the mmdet scope: the test pipeline and visualizer are mmdet's.
    inferencer = DetInferencer(model=args.config, weights=args.checkpoint,
                               device=args.device, scope='mmdet', show_progress=True)
    classes = inferencer.model.dataset_meta['classes']
    results = inferencer(images, out_dir=args.out_dir, pred_score_thr=args.score_thr,
                         batch_size=args.batch_size, no_save_pred=True)
    counts: Counter = Counter()
    for pred in results['predictions']:
        for label, score in zip(pred['labels'], pred['scores']):
            if score >= args.score_thr:
                counts[classes[label]] += 1
    print(f'{len(images)} image(s) -> {osp.join(args.out_dir, "vis")}; boxes with score >= '
          f'{args.score_thr}: ' + (', '.join(f'{c} {n}' for c, n in counts.most_common())
                                   or 'none'))
    return counts


if __name__ == '__main__':
    main()
