"""Pose in demo/image_demo.py and demo/video_demo.py, with a Teacher-Reviewer-
Student checkpoint trained for a few iterations on real bee images."""
import glob

import cv2
import numpy as np
import pytest

from tests.conftest import REPO_ROOT, load_script

CONFIG = 'configs/trs/trs_td-hm_effl0_1xb16-1k_semi-10pct-bee.py'


@pytest.fixture(scope='module')
def trs_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp('pose')
    load_script('tools/dataset_converters/bee_pose_to_coco.py').main(
        [f'{REPO_ROOT}/tests/data/bee_pose', '--dst', str(root / 'bee'), '--copy'])
    bee = f'{root}/bee/'
    load_script('tools/train.py').main([
        CONFIG, '--work-dir', str(root / 'work'), '--cfg-options',
        f'train_dataloader.dataset.labeled.data_root={bee}',
        f'train_dataloader.dataset.unlabeled.data_root={bee}',
        f'val_dataloader.dataset.data_root={bee}', f'test_dataloader.dataset.data_root={bee}',
        f'val_evaluator.1.ann_file={bee}annotations/bee_pose_test.json',
        f'test_evaluator.1.ann_file={bee}annotations/bee_pose_test.json',
        'train_dataloader.batch_size=4', 'train_dataloader.sampler.batch_size=4',
        'train_dataloader.sampler.num_labeled=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=100'])
    return str(root / 'work' / 'iter_2.pth'), root


def test_image_demo_draws_skeletons(trs_checkpoint, tmp_path):
    checkpoint, root = trs_checkpoint
    images = f'{REPO_ROOT}/tests/data/bee_pose/pose'
    counts = load_script('demo/image_demo.py').main(
        [images, CONFIG, checkpoint, '--out-dir', str(tmp_path), '--kpt-thr', '0.0'])
    assert counts['poses'] == 4  # one whole-image box per image
    assert counts['keypoints'] == 4 * 32  # threshold 0: every keypoint is drawn
    drawn = sorted(glob.glob(f'{tmp_path}/vis/*'))
    assert len(drawn) == 4
    original = cv2.imread(f'{images}/florian-127.jpeg')
    out = cv2.imread(f'{tmp_path}/vis/florian-127.jpeg')
    assert out.shape == original.shape and (out != original).any()


def test_video_demo_runs_pose_on_bee_frames(trs_checkpoint, tmp_path, capsys):
    checkpoint, _ = trs_checkpoint
    frames = [cv2.imread(p) for p in sorted(glob.glob(
        f'{REPO_ROOT}/tests/data/bee_pose/pose/video_*.png'))]
    video = tmp_path / 'bees.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 5,
                             frames[0].shape[1::-1])
    for frame in frames * 3:
        writer.write(frame)
    writer.release()
    out = tmp_path / 'bees_pose.avi'
    stats = load_script('demo/video_demo.py').main(
        [str(video), CONFIG, checkpoint, '--out', str(out), '--kpt-thr', '0.0'])
    assert stats['frames'] == len(frames) * 3 and stats['fps'] > 0
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == len(frames) * 3
    assert 'frames per second' in capsys.readouterr().out


def test_boxes_come_from_the_detector_when_given(trs_checkpoint):
    import torch
    from mmengine.structures import InstanceData

    from ssl_dense.apis import PosePredictor
    checkpoint, _ = trs_checkpoint
    predictor = PosePredictor(CONFIG, checkpoint)
    image = cv2.imread(f'{REPO_ROOT}/tests/data/bee_pose/pose/florian-127.jpeg')
    h, w = image.shape[:2]
    assert predictor.boxes(image).tolist() == [[0, 0, w - 1, h - 1]]

    def crop_scale(pipeline, box):
        item = pipeline(dict(img=image, bbox=np.array([box], np.float32),
                             bbox_score=np.ones(1, np.float32),
                             flip_indices=predictor.meta['flip_indices']))
        return item['data_samples'].gt_instances.bbox_scales[0]

    # The whole frame is cropped unpadded (as the unlabelled training crops),
    # a detector box with mmpose's 1.25 padding; both square (the input's aspect).
    whole = crop_scale(predictor.whole_frame_pipeline, [0, 0, w - 1, h - 1])
    assert whole == pytest.approx([max(w, h) - 1] * 2)
    boxed = crop_scale(predictor.pipeline, [10, 10, 100, 120])
    assert boxed == pytest.approx([110 * 1.25] * 2)

    class FakeDetector:
        def __call__(self, img, return_datasamples):
            inst = InstanceData(bboxes=torch.tensor([[10., 10., 100., 120.], [5., 5., 50., 50.],
                                                     [0., 0., 60., 60.]]),
                                scores=torch.tensor([0.9, 0.1, 0.8]),
                                labels=torch.tensor([0, 0, 1]))
            return dict(predictions=[type('S', (), dict(pred_instances=inst))()])

    predictor.detector, predictor.det_score_thr, predictor.det_classes = FakeDetector(), 0.3, [0]
    assert predictor.boxes(image).tolist() == [[10., 10., 100., 120.]]
    poses = predictor(image)
    assert len(poses) == 1 and poses[0]['keypoints'].shape == (32, 2)
    # Keypoints come back in image coordinates, around the box.
    assert np.all(poses[0]['keypoints'] > -60) and np.all(poses[0]['keypoints'] < 200)
    # Boxes given by the caller (annotated ones, tools/analysis/pose_errors.py)
    # are cropped like detector boxes, i.e. like the test pipeline.
    predictor.detector = None
    given = predictor(image, boxes=np.array([[10., 10., 100., 120.]]))
    np.testing.assert_allclose(given[0]['keypoints'], poses[0]['keypoints'], atol=1e-4)
    whole_frame = predictor(image)
    assert whole_frame[0]['bbox'].tolist() == [0, 0, w - 1, h - 1]


def test_pose_errors_summarises_pck_and_median_per_group():
    errors = np.array([[0.01, 0.2, np.nan], [0.03, 0.07, 0.04]])
    rows = load_script('tools/analysis/pose_errors.py').summarise(
        errors, {'all': [0, 1, 2], 'k1': [1]}, [0.05, 0.1])
    assert rows[0] == dict(name='all', n=5, **{'PCK@0.05': 60.0, 'PCK@0.1': 80.0},
                           median=pytest.approx(0.04))
    assert rows[1]['n'] == 2 and rows[1]['PCK@0.05'] == 0.0 and rows[1]['PCK@0.1'] == 50.0


def test_pose_errors_runs_on_annotated_test_bees(trs_checkpoint, capsys):
    checkpoint, root = trs_checkpoint
    rows = load_script('tools/analysis/pose_errors.py').main(
        [CONFIG, checkpoint, '--ann-file', f'{root}/bee/annotations/bee_pose_test.json',
         '--img-root', f'{root}/bee'])
    names = [row['name'] for row in rows]
    assert names[:3] == ['all', 'type upper', 'type lower'] and 'head_front' in names
    assert rows[0]['n'] > 0 and 0.0 <= rows[0]['PCK@0.05'] <= 100.0
    assert 'one heatmap cell = 3.9 %' in capsys.readouterr().out


def test_plain_mmpose_config_and_dataset_class_meta(trs_checkpoint, tmp_path):
    """A config written for mmpose itself (``default_scope='mmpose'``, no
    ``_scope_`` in the model) is a pose config; with no ``metainfo`` in the
    test dataset the keypoint names and skeleton come from the dataset class
    (mmpose's CocoDataset: 17 keypoints)."""
    from mmengine.config import Config

    from ssl_dense.apis import PosePredictor, is_pose_config
    checkpoint, _ = trs_checkpoint
    cfg = Config.fromfile(f'{REPO_ROOT}/{CONFIG}')
    cfg.model.model.pop('_scope_')
    cfg.default_scope = 'mmpose'
    cfg.test_dataloader.dataset.type = 'CocoDataset'
    cfg.test_dataloader.dataset.pop('metainfo')
    config = str(tmp_path / 'plain.py')
    cfg.dump(config)
    assert is_pose_config(Config.fromfile(config))
    predictor = PosePredictor(config, checkpoint)
    assert predictor.meta['num_keypoints'] == 17
    assert predictor.meta['keypoint_id2name'][0] == 'nose'


def test_pose_config_without_any_keypoint_meta_is_named(trs_checkpoint, tmp_path):
    from mmengine.config import Config

    from ssl_dense.apis import PosePredictor
    checkpoint, _ = trs_checkpoint
    cfg = Config.fromfile(f'{REPO_ROOT}/{CONFIG}')
    cfg.test_dataloader.dataset.type = 'NoSuchDataset'
    cfg.test_dataloader.dataset.pop('metainfo')
    config = str(tmp_path / 'no_meta.py')
    cfg.dump(config)
    with pytest.raises(KeyError, match=r"no_meta.py: test_dataloader.dataset has no metainfo "
                                       r"and its type 'NoSuchDataset' no METAINFO"):
        PosePredictor(config, checkpoint)
