"""Run a detector, segmentor or top-down pose estimator over a video file or
a camera and write the annotated video (boxes; a colour overlay with a legend
for segmentors; skeletons for pose, in detector boxes or the whole frame).

Examples::

    python demo/video_demo.py cells.mp4 CONFIG CHECKPOINT --out cells_pred.mp4
    python demo/video_demo.py 0 CONFIG CHECKPOINT --out camera.mp4 --max-frames 300

Shows a progress bar and prints the number of frames and the frames per
second of the whole loop (read, predict, draw, write).
"""
import argparse
import os.path as osp
import sys
import time

import cv2

import ssl_dense  # noqa: F401  (installs the weights_only checkpoint loader)
from ssl_dense.utils import trust_checkpoint_file

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from image_demo import add_pose_args, pose_predictor  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('video', help='video file, or a camera index such as 0')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output video file (.mp4 or .avi)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw boxes with at least this score')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='stop after this many frames (useful for cameras)')
    add_pose_args(parser)
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow the checkpoint to be unpickled with weights_only=False '
                        '(only for files you trust)')
    return parser.parse_args(argv)


def open_video(source: str) -> cv2.VideoCapture:
    """Open a file, or a camera when ``source`` is an integer."""
    is_camera = source.isdigit()
    if not is_camera and not osp.isfile(source):
        raise FileNotFoundError(f'video {source} does not exist')
    capture = cv2.VideoCapture(int(source) if is_camera else source)
    if not capture.isOpened():
        raise OSError(f'OpenCV cannot open {"camera" if is_camera else "video"} {source}')
    return capture


def frame_drawer(args: argparse.Namespace):
    """A function BGR frame -> annotated BGR frame for the config's task."""
    from mmengine.config import Config

    from ssl_dense.apis import (SegPredictor, draw_poses, draw_segmentation, is_pose_config,
                                is_segmentation_config)
    cfg = Config.fromfile(args.config)
    if is_pose_config(cfg):
        predictor = pose_predictor(args)
        return lambda frame: draw_poses(frame, predictor(frame), predictor.meta,
                                        kpt_thr=args.kpt_thr)
    if is_segmentation_config(cfg):
        predictor = SegPredictor(args.config, args.checkpoint, device=args.device)
        return lambda frame: draw_segmentation(frame, predictor(frame), predictor.classes,
                                               predictor.palette)
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(model=args.config, weights=args.checkpoint, device=args.device,
                               scope='mmdet', show_progress=False)

    def draw(frame):
        # The model reads the BGR frame as mmdet expects; the visualizer
        # draws on RGB, and DetInferencer would hand it the BGR array as is
        # (red and blue swapped), so draw here on the RGB view of the frame.
        result = inferencer(frame, return_datasamples=True, no_save_vis=True)
        inferencer.visualizer.add_datasample('frame', frame[..., ::-1], result['predictions'][0],
                                             draw_gt=False, pred_score_thr=args.score_thr)
        return cv2.cvtColor(inferencer.visualizer.get_image(), cv2.COLOR_RGB2BGR)
    return draw


def main(argv=None) -> dict:
    args = parse_args(argv)
    from mmengine.utils import ProgressBar
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist')
    if args.trust_checkpoint:
        trust_checkpoint_file(args.checkpoint)
    capture = open_video(args.video)
    fps_in = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    draw = frame_drawer(args)
    writer = None
    progress = ProgressBar(total) if total else None
    frames = 0
    start = time.perf_counter()
    try:
        while args.max_frames is None or frames < args.max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            drawn = draw(frame)
            if writer is None:
                fourcc = cv2.VideoWriter_fourcc(*('mp4v' if args.out.endswith('.mp4')
                                                  else 'XVID'))
                writer = cv2.VideoWriter(args.out, fourcc, fps_in, drawn.shape[1::-1])
                if not writer.isOpened():
                    raise OSError(f'OpenCV cannot write video {args.out}')
            writer.write(drawn)
            frames += 1
            if progress is not None:
                progress.update()
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    elapsed = time.perf_counter() - start
    if frames == 0:
        raise ValueError(f'no frame could be read from {args.video}')
    fps = frames / elapsed
    print(f'\n{frames} frames in {elapsed:.1f} s: {fps:.2f} frames per second '
          f'(read, predict, draw, write) -> {args.out}')
    return dict(frames=frames, fps=fps)


if __name__ == '__main__':
    main()
