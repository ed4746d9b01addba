"""demo/video_demo.py on a short video written from real BCCD frames."""
import os.path as osp

import cv2
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from tests.conftest import load_script, REPO_ROOT


def _demo():
    return load_script('demo/video_demo.py')


def _write_video(path, names):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 5, (320, 240))
    for name in names:
        frame = cv2.imread(osp.join(REPO_ROOT, 'data', 'bccd', 'images', name))
        writer.write(cv2.resize(frame, (320, 240)))
    writer.release()


@pytest.fixture(scope='module')
def semi_model(tmp_path_factory):
    """A 2-iteration mean-teacher checkpoint: the demo must handle TeacherStudent."""
    from tests.test_models.test_teacher_student import _semi_cfg
    work = tmp_path_factory.mktemp('video_model')
    cfg = _semi_cfg(work, max_iters=2)
    Runner.from_cfg(cfg).train()
    cfg.model.model.test_cfg.score_thr = 0.0
    cfg.dump(str(work / 'model.py'))
    return str(work / 'model.py'), str(work / 'iter_2.pth')


def test_video_demo_writes_annotated_video(semi_model, tmp_path, capsys):
    config, checkpoint = semi_model
    video = tmp_path / 'cells.mp4'
    _write_video(video, ['BloodImage_00001.jpg', 'BloodImage_00003.jpg',
                         'BloodImage_00005.jpg', 'BloodImage_00008.jpg'])
    out = tmp_path / 'pred.mp4'
    stats = _demo().main([str(video), config, checkpoint, '--out', str(out),
                          '--score-thr', '0.0'])
    assert stats['frames'] == 4 and stats['fps'] > 0
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    ok, frame = capture.read()
    assert ok and frame.shape == (240, 320, 3)
    assert 'frames per second' in capsys.readouterr().out


def test_video_demo_bad_inputs(semi_model, tmp_path):
    config, checkpoint = semi_model
    demo = _demo()
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        demo.main([str(tmp_path / 'missing.mp4'), config, checkpoint, '--out', 'x.mp4'])
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video')
    with pytest.raises((OSError, ValueError), match='broken.mp4'):
        demo.main([str(broken), config, checkpoint, '--out', str(tmp_path / 'y.mp4')])


def test_semi_checkpoint_config_builds_in_mmdet_scope(semi_model):
    from mmdet.apis import DetInferencer
    config, checkpoint = semi_model
    inferencer = DetInferencer(model=config, weights=checkpoint, scope='mmdet')
    assert type(inferencer.model).__name__ == 'TeacherStudent'
    assert Config.fromfile(config).model.type == 'ssl_dense.TeacherStudent'


def test_detection_frames_keep_their_colours(semi_model):
    """A red frame comes out red: the drawn frame is BGR like the input (the
    boxes are drawn over it, so compare the mean colour, not every pixel)."""
    import numpy as np
    config, checkpoint = semi_model
    demo = _demo()
    args = demo.parse_args(['in.mp4', config, checkpoint, '--out', 'out.mp4',
                            '--score-thr', '0.99'])
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[..., 2], frame[..., 0] = 220, 30  # BGR: red with a little blue
    drawn = demo.frame_drawer(args)(frame)
    blue, _, red = drawn.reshape(-1, 3).mean(0)
    assert drawn.shape == frame.shape and red > 150 and blue < 80
