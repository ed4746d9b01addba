"""Draw a model's predictions on an image or on every image of a folder.

Detectors (mmdet) get boxes, class names and scores; segmentors (mmseg, or
a TeacherStudent around one) get a colour overlay with a legend of the
classes present; top-down pose estimators (mmpose, or a TeacherStudent
around one) get skeletons, in boxes from a detector (``--det-config``,
``--det-checkpoint``) or in the whole image.

Examples::

    python demo/image_demo.py data/bccd/images/BloodImage_00001.jpg \\
        configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd.py \\
        work_dirs/quickstart/iter_1000.pth --out-dir outputs/
    python demo/image_demo.py data/bccd/images CONFIG CHECKPOINT --score-thr 0.5
    python demo/image_demo.py data/camvid/test \\
        configs/fpn/fpn_effl0_1xb8-2k_camvid.py work_dirs/fpn/iter_2000.pth
    python demo/image_demo.py data/bee_pose/pose \
        configs/topdown_heatmap/td-hm_effl0_1xb8-1k_bee.py work_dirs/bee/iter_1000.pth

Writes ``<out-dir>/vis/<image name>`` and prints, for detection, how many
boxes of each class passed the score threshold, for segmentation, the
share of pixels of each class, and for pose, the number of poses and of
keypoints drawn.
"""
import argparse
import os
import os.path as osp
from collections import Counter

import numpy as np

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
    add_pose_args(parser)
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow the checkpoint to be unpickled with weights_only=False '
                        '(only for files you trust)')
    return parser.parse_args(argv)


def add_pose_args(parser: argparse.ArgumentParser) -> None:
    """Options of top-down pose configs (shared with video_demo.py)."""
    group = parser.add_argument_group('pose (top-down)')
    group.add_argument('--det-config', help='detector config giving the boxes (default: the '
                       'whole image is one box)')
    group.add_argument('--det-checkpoint', help='detector checkpoint')
    group.add_argument('--det-score-thr', type=float, default=0.3,
                       help='detector boxes with at least this score')
    group.add_argument('--det-classes', type=int, nargs='+', default=None,
                       help='detector class indices to keep (e.g. 0 for COCO person; '
                       'default: all)')
    group.add_argument('--kpt-thr', type=float, default=0.3,
                       help='draw keypoints with at least this score')


def pose_predictor(args: argparse.Namespace):
    from ssl_dense.apis import PosePredictor
    return PosePredictor(args.config, args.checkpoint, device=args.device,
                         det_config=args.det_config, det_checkpoint=args.det_checkpoint,
                         det_score_thr=args.det_score_thr, det_classes=args.det_classes)


def pose_images(images: list, args: argparse.Namespace) -> Counter:
    """Pose: skeletons per image; number of poses and of keypoints drawn."""
    import cv2
    from mmengine.utils import ProgressBar

    from ssl_dense.apis import draw_poses
    predictor = pose_predictor(args)
    out_dir = osp.join(args.out_dir, 'vis')
    os.makedirs(out_dir, exist_ok=True)
    counts: Counter = Counter()
    progress = ProgressBar(len(images))
    for path in images:
        image = cv2.imread(path)
        if image is None:
            raise OSError(f'OpenCV cannot read image {path}')
        poses = predictor(image)
        cv2.imwrite(osp.join(out_dir, osp.basename(path)),
                    draw_poses(image, poses, predictor.meta, kpt_thr=args.kpt_thr))
        counts['poses'] += len(poses)
        counts['keypoints'] += sum(int((p['scores'] >= args.kpt_thr).sum()) for p in poses)
        progress.update()
    print(f'\n{len(images)} image(s) -> {out_dir}; {counts["poses"]} pose(s), '
          f'{counts["keypoints"]} keypoints with score >= {args.kpt_thr}')
    return counts


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


def segment_images(images: list, args: argparse.Namespace) -> Counter:
    """Segmentation: overlay + legend per image; pixel share per class."""
    import cv2
    from mmengine.utils import ProgressBar

    from ssl_dense.apis import SegPredictor, draw_segmentation
    predictor = SegPredictor(args.config, args.checkpoint, device=args.device)
    out_dir = osp.join(args.out_dir, 'vis')
    os.makedirs(out_dir, exist_ok=True)
    pixels: Counter = Counter()
    progress = ProgressBar(len(images))
    for path in images:
        image = cv2.imread(path)
        if image is None:
            raise OSError(f'OpenCV cannot read image {path}')
        labels = predictor(image)
        cv2.imwrite(osp.join(out_dir, osp.basename(path)),
                    draw_segmentation(image, labels, predictor.classes, predictor.palette))
        for c, n in zip(*np.unique(labels, return_counts=True)):
            pixels[predictor.classes[c]] += int(n)
        progress.update()
    total = sum(pixels.values())
    print(f'\n{len(images)} image(s) -> {out_dir}; pixels per class: ' + ', '.join(
        f'{c} {100 * n / total:.1f}%' for c, n in pixels.most_common()))
    return pixels


def main(argv=None) -> Counter:
    args = parse_args(argv)
    images = list_images(args.inputs)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist')
    if args.trust_checkpoint:
        trust_checkpoint_file(args.checkpoint)
    from mmengine.config import Config

    from ssl_dense.apis import is_pose_config, is_segmentation_config
    cfg = Config.fromfile(args.config)
    if is_segmentation_config(cfg):
        return segment_images(images, args)
    if is_pose_config(cfg):
        return pose_images(images, args)
    from mmdet.apis import DetInferencer
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
