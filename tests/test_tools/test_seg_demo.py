"""Image and video demos for segmentation (a 2-iteration mean-teacher model
around Semantic FPN), on real CamVid frames."""
import glob
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.runner import Runner

from tests.conftest import load_script, REPO_ROOT

FRAMES = sorted(glob.glob(osp.join(REPO_ROOT, 'tests', 'data', 'camvid', 'train', '*.jpg')))


@pytest.fixture(scope='module')
def seg_model(tmp_path_factory):
    from tests.test_models.test_semi_segmentation import _cfg
    work = tmp_path_factory.mktemp('seg_demo_model')
    cfg = _cfg(work, max_iters=2)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.val_interval = 10**6
    Runner.from_cfg(cfg).train()
    cfg.dump(str(work / 'model.py'))
    return str(work / 'model.py'), str(work / 'work' / 'iter_2.pth')


def test_image_demo_draws_overlay_and_legend(seg_model, tmp_path, capsys):
    config, checkpoint = seg_model
    pixels = load_script('demo/image_demo.py').main(
        [FRAMES[0], config, checkpoint, '--out-dir', str(tmp_path)])
    drawn = cv2.imread(str(tmp_path / 'vis' / osp.basename(FRAMES[0])))
    image = cv2.imread(FRAMES[0])
    assert drawn.shape == image.shape
    assert np.abs(drawn.astype(int) - image.astype(int)).mean() > 5  # overlay drawn
    # The legend: a white box in the top-left corner.
    assert (drawn[6:10, 6:10] >= 240).all()  # (JPEG-compressed output)
    assert sum(pixels.values()) == image.shape[0] * image.shape[1]
    assert 'pixels per class:' in capsys.readouterr().out


def test_video_demo_segments_every_frame(seg_model, tmp_path, capsys):
    config, checkpoint = seg_model
    video = tmp_path / 'road.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 5, (480, 360))
    for path in FRAMES[:3]:
        writer.write(cv2.imread(path))
    writer.release()
    out = tmp_path / 'road_pred.mp4'
    stats = load_script('demo/video_demo.py').main([str(video), config, checkpoint, '--out',
                                                    str(out)])
    assert stats['frames'] == 3 and stats['fps'] > 0
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()


def test_image_miou_counts_present_classes_and_skips_ignore():
    compare = load_script('tools/analysis/seg_compare.py')
    label = np.array([[0, 0, 1, 11]])
    # class 0: IoU 1/2 (one of two pixels), class 1: 1/2 (predicted on 2 pixels),
    # the void pixel (11) counts nowhere.
    pred = np.array([[0, 1, 1, 0]])
    assert compare.image_miou(pred, label, 11, 11) == pytest.approx(50.0)
    assert compare.image_miou(label, label, 11, 11) == pytest.approx(100.0)


def test_seg_compare_tiles_truth_and_models(seg_model, tmp_path, capsys):
    config, checkpoint = seg_model
    label_path = FRAMES[0].replace(f'{osp.sep}train{osp.sep}', f'{osp.sep}trainannot{osp.sep}')
    label_path = label_path[:-4] + '.png'
    out = tmp_path / 'cmp.jpg'
    grid = load_script('tools/analysis/seg_compare.py').main(
        [FRAMES[0], '--label', label_path, '--model', 'a', config, checkpoint,
         '--model', 'b', config, checkpoint, '--out', str(out)])
    h, w = cv2.imread(FRAMES[0]).shape[:2]
    # 3 panels (truth, a, b) in 2 columns -> 2 rows of (title strip + image).
    assert grid.shape == (2 * (h + 28), 2 * w, 3)
    assert cv2.imread(str(out)).shape == grid.shape
    titles = capsys.readouterr().out
    assert 'a: ' in titles and 'mIoU' in titles


def test_seg_compare_names_a_label_of_the_wrong_size(seg_model, tmp_path):
    config, checkpoint = seg_model
    small = tmp_path / 'small.png'
    cv2.imwrite(str(small), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match='small.png'):
        load_script('tools/analysis/seg_compare.py').main(
            [FRAMES[0], '--label', str(small), '--model', 'a', config, checkpoint])


def test_plain_mmseg_config_with_default_scope_is_segmentation(tmp_path):
    """A config written for mmseg itself (no ``_scope_`` in the model, only
    ``default_scope='mmseg'``) goes to the segmentation demo, not mmdet's."""
    import torch
    from mmengine.config import Config

    from ssl_dense.apis import SegPredictor, build_task_model, is_segmentation_config
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'fpn', 'fpn_effl0_1xb8-2k_camvid.py'))
    cfg.model.pop('_scope_')
    cfg.default_scope = 'mmseg'
    cfg.model.backbone.pop('init_cfg')
    config = str(tmp_path / 'plain.py')
    cfg.dump(config)
    cfg = Config.fromfile(config)
    assert is_segmentation_config(cfg)
    checkpoint = str(tmp_path / 'plain.pth')
    torch.save(dict(state_dict=build_task_model(cfg).state_dict()), checkpoint)
    labels = SegPredictor(config, checkpoint)(cv2.imread(FRAMES[0]))
    assert labels.shape == cv2.imread(FRAMES[0]).shape[:2]
    pixels = load_script('demo/image_demo.py').main(
        [FRAMES[0], config, checkpoint, '--out-dir', str(tmp_path / 'out')])
    assert sum(pixels.values()) == labels.size


def test_checkpoint_without_dataset_meta_keeps_the_datasets_colours(seg_model, tmp_path):
    """A checkpoint saved without ``dataset_meta`` (e.g. converted weights)
    still draws CamVid in CamVid's colours, from the config's dataset."""
    import torch

    from ssl_dense.apis.segmentation import SegPredictor
    from ssl_dense.datasets.segmentation import CamVidDataset
    config, checkpoint = seg_model
    bare = tmp_path / 'bare.pth'
    torch.save(dict(state_dict=torch.load(checkpoint, map_location='cpu',
                                          weights_only=False)['state_dict']), bare)
    predictor = SegPredictor(config, str(bare))
    assert list(predictor.classes) == list(CamVidDataset.METAINFO['classes'])
    assert predictor.palette == [tuple(c) for c in CamVidDataset.METAINFO['palette']]


def test_test_tool_show_dir_draws_every_test_image(seg_model, tmp_path):
    """`tools/test.py --show-dir` works for segmentation configs too (they
    name no visualization hook: mmseg's is added and draws every image)."""
    import subprocess
    import sys
    config, checkpoint = seg_model
    root = osp.join(REPO_ROOT, 'tests', 'data', 'camvid')
    run = subprocess.run([
        sys.executable, osp.join(REPO_ROOT, 'tools', 'test.py'), config, checkpoint,
        '--work-dir', str(tmp_path), '--show-dir', 'vis', '--cfg-options',
        f'test_dataloader.dataset.data_root={root}',
        'test_dataloader.dataset.data_prefix.img_path=train',
        'test_dataloader.dataset.data_prefix.seg_map_path=trainannot',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False'],
        capture_output=True, text=True, cwd=REPO_ROOT,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO_ROOT))
    assert run.returncode == 0, run.stderr[-3000:]
    drawn = sorted(glob.glob(str(tmp_path / 'vis' / 'vis_data' / 'vis_image' / '*.png')))
    assert len(drawn) == len(FRAMES) == 4
    image, first = cv2.imread(FRAMES[0]), cv2.imread(drawn[0])
    assert first.shape[0] == image.shape[0] and first.shape[1] >= image.shape[1]
