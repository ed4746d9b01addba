"""demo/image_demo.py draws detections on an image or a folder."""
import os.path as osp
import shutil

import cv2
import pytest
from mmengine.runner import Runner

from tests.conftest import load_script, REPO_ROOT, small_det_config


def _demo():
    return load_script('demo/image_demo.py')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp('demo_model')
    cfg = small_det_config(work, max_iters=2, ckpt_interval=2)
    cfg.experiment_name = 'demo_model'
    Runner.from_cfg(cfg).train()
    # After 2 iterations every score is low: keep all boxes so some are drawn.
    cfg.model.test_cfg.score_thr = 0.0
    config = work / 'model.py'
    cfg.dump(str(config))
    return str(config), str(work / 'iter_2.pth')


def test_demo_on_a_folder(trained, tmp_path, capsys):
    config, checkpoint = trained
    images = tmp_path / 'images'
    images.mkdir()
    for name in ('BloodImage_00001.jpg', 'BloodImage_00003.jpg'):
        shutil.copy(osp.join(REPO_ROOT, 'data', 'bccd', 'images', name), images / name)
    (images / 'notes.txt').write_text('not an image')
    out = tmp_path / 'out'
    counts = _demo().main([str(images), config, checkpoint, '--out-dir', str(out),
                           '--score-thr', '0.0'])
    for name in ('BloodImage_00001.jpg', 'BloodImage_00003.jpg'):
        drawn = cv2.imread(str(out / 'vis' / name))
        assert drawn is not None and drawn.shape == (480, 640, 3)
    assert sum(counts.values()) > 0
    assert '2 image(s) ->' in capsys.readouterr().out


def test_demo_bad_inputs_are_named(trained, tmp_path):
    config, checkpoint = trained
    demo = _demo()
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no image .* in folder .*empty'):
        demo.main([str(tmp_path / 'empty'), config, checkpoint])
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        demo.main([str(tmp_path / 'missing.jpg'), config, checkpoint])
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        demo.main([osp.join(REPO_ROOT, 'data', 'bccd', 'images', 'BloodImage_00001.jpg'),
                   config, str(tmp_path / 'nope.pth')])
