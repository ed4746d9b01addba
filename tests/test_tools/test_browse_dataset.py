"""tools/analysis/browse_dataset.py: the views a training pipeline packs, drawn."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData

from tests.conftest import REPO_ROOT, load_script

CAMVID = f'{REPO_ROOT}/tests/data/camvid'
SEMI_SEG = 'configs/mean_teacher_seg/mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py'


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis/browse_dataset.py')


def test_semi_segmentation_config_draws_labelled_and_both_unlabelled_views(tmp_path, tool):
    load_script('tools/split_dataset.py').main([f'{CAMVID}/train', '--count', '2',
                                               '--out-dir', str(tmp_path / 'splits')])
    split = tmp_path / 'splits' / 'train.2img.seed1'
    written = tool.main([
        SEMI_SEG, '--num', '2', '--out-dir', str(tmp_path / 'out'), '--cfg-options',
        f'train_dataloader.dataset.labeled.data_root={CAMVID}',
        f'train_dataloader.dataset.unlabeled.data_root={CAMVID}',
        f'train_dataloader.dataset.labeled.ann_file={split}.labeled.txt',
        f'train_dataloader.dataset.unlabeled.ann_file={split}.unlabeled.txt'])
    assert sorted(written) == sorted(glob.glob(str(tmp_path / 'out' / '*.png')))
    assert len(written) == 4  # 2 labelled + 2 unlabelled samples
    labelled = set(open(f'{split}.labeled.txt').read().split())
    widths = {}
    for path in written:
        name = osp.basename(path).split('_', 1)[1][:-len('.png')]
        widths[name in labelled] = cv2.imread(path).shape[1]
    # 128-pixel training crops, enlarged to 320: one view (sup) against two
    # (unsup_weak, unsup_strong) side by side.
    assert widths[True] == 320
    assert widths[False] == 2 * 320 + 6


def test_views_are_enlarged_with_their_labels(tool):
    from mmdet.structures import DetDataSample
    from mmpose.structures import PoseDataSample
    from mmseg.structures import SegDataSample
    image = torch.zeros(3, 10, 20, dtype=torch.uint8)
    seg = SegDataSample()
    labels = torch.full((1, 10, 20), 11)
    labels[:, :, 10:] = 0  # right half: class 0 (palette red), left half: void
    seg.gt_sem_seg = PixelData(data=labels)
    meta = dict(classes=['red'], palette=[(255, 0, 0)])
    drawn = tool.draw_view(image, seg, meta, scale=3.0)
    assert drawn.shape == (30, 60, 3)
    assert drawn[29, 59, 2] > 100 and drawn[29, 59, 0] == 0  # BGR: red overlay
    assert not drawn[29, 2].any()  # void stays undrawn
    pose = PoseDataSample()
    pose.gt_instances = InstanceData(transformed_keypoints=np.array([[[5.0, 5.0]]]),
                                     keypoints_visible=np.array([[1.0]]))
    drawn = tool.draw_view(image, pose, dict(keypoint_colors=[(0, 255, 0)]), scale=2.0)
    assert drawn[10, 10, 1] == 255 and drawn.sum() == drawn[6:15, 6:15].sum()
    det = DetDataSample()
    det.gt_instances = InstanceData(bboxes=torch.tensor([[10.0, 10.0, 30.0, 30.0]]),
                                    labels=torch.tensor([0]))
    drawn = tool.draw_view(torch.zeros(3, 40, 40, dtype=torch.uint8), det,
                           dict(classes=['cell']), scale=2.0)
    assert drawn[60, 20:60].all(axis=1).all()  # bottom edge at 2 x 30
    assert not drawn[40, 40].any()  # inside the box: nothing drawn


def test_bag_config_is_refused_with_the_config_named(tmp_path, tool):
    with pytest.raises(TypeError, match='abmil_musk1-10fold.py.*not images'):
        tool.main(['configs/mil/abmil_musk1-10fold.py', '--num', '1',
                   '--out-dir', str(tmp_path)])


def test_checkpoint_draws_teacher_pseudo_labels_moved_to_the_strong_view(tmp_path, tool):
    """With --checkpoint the unlabelled views show the teacher's pseudo labels;
    weak and strong CamVid views share crop and flip, so the moved labels
    are the weak view's, pixel for pixel."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ssl_dense.registry import MODELS
    load_script('tools/split_dataset.py').main([f'{CAMVID}/train', '--count', '2',
                                               '--out-dir', str(tmp_path / 'splits')])
    split = tmp_path / 'splits' / 'train.2img.seed1'
    options = [f'train_dataloader.dataset.labeled.data_root={CAMVID}',
               f'train_dataloader.dataset.unlabeled.data_root={CAMVID}',
               f'train_dataloader.dataset.labeled.ann_file={split}.labeled.txt',
               f'train_dataloader.dataset.unlabeled.ann_file={split}.unlabeled.txt',
               'model.threshold.thr=0.0']  # an untrained teacher: every pixel passes
    init_default_scope('ssl_dense')
    cfg = Config.fromfile(f'{REPO_ROOT}/{SEMI_SEG}')
    cfg.merge_from_dict(dict(o.split('=', 1) for o in options[:4]))
    cfg.model.threshold.thr = 0.0
    model = MODELS.build(cfg.model).eval()
    checkpoint = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    written = tool.main([SEMI_SEG, '--num', '1', '--out-dir', str(tmp_path / 'out'),
                         '--checkpoint', str(checkpoint), '--cfg-options', *options])
    assert len(written) == 2
    # The function behind it, on one unlabelled sample.
    from mmengine.registry import DATASETS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    data = dataset[dataset.num_labeled]
    views = tool.pseudo_label_views(model, data)
    weak, strong = views['unsup_weak'], views['unsup_strong']
    h, w = data['data_samples']['unsup_strong'].metainfo['img_shape']
    assert torch.equal(strong.labels[0, :h, :w], weak.labels[0, :h, :w])
    assert (strong.labels[0, :h, :w] >= 0).all()
    drawn = tool.with_pseudo_labels(data['data_samples']['unsup_strong'], strong)
    assert torch.equal(drawn.gt_sem_seg.data, strong.labels.cpu())
    assert tool.pseudo_label_views(model, dataset[0]) == {}  # a labelled sample


def test_supervised_pose_config_gets_its_keypoints_drawn(tmp_path, tool):
    """A plain top-down config packs no crop keypoints by default; the tool
    switches pack_transformed on so that the crop shows the bee's keypoints."""
    load_script('tools/dataset_converters/bee_pose_to_coco.py').main(
        [f'{REPO_ROOT}/tests/data/bee_pose', '--dst', str(tmp_path / 'bee'), '--copy'])
    config = 'configs/topdown_heatmap/td-hm_effl0_1xb8-1k_bee.py'
    written = tool.main([config, '--num', '2', '--out-dir', str(tmp_path / 'out'),
                         '--min-side', '0', '--cfg-options',
                         f'train_dataloader.dataset.data_root={tmp_path}/bee/'])
    assert len(written) == 2
    from mmengine.config import Config
    from mmengine.registry import DATASETS, init_default_scope
    cfg = Config.fromfile(f'{REPO_ROOT}/{config}')
    cfg.train_dataloader.dataset.data_root = f'{tmp_path}/bee/'
    tool.set_pack_transformed(cfg.train_dataloader.dataset)
    init_default_scope('ssl_dense')
    data = DATASETS.build(cfg.train_dataloader.dataset)[0]
    assert 'transformed_keypoints' in data['data_samples'].gt_instances
    drawn = tool.draw_view(data['inputs'], data['data_samples'], {})
    assert (drawn != tool._image(data['inputs'])).any(axis=2).sum() > 50


def test_unlabelled_views_never_show_hidden_truth_or_ignored_boxes(tool):
    from mmdet.structures import DetDataSample
    truth = DetDataSample()
    truth.gt_instances = InstanceData(bboxes=torch.tensor([[1.0, 1.0, 5.0, 5.0]]),
                                      labels=torch.tensor([0]))
    data = dict(inputs=dict(sup=None, unsup_weak=torch.zeros(3, 8, 8)),
                data_samples=dict(sup=None, unsup_weak=truth))
    tool.hide_unlabelled_truth(data, 'sup')
    assert 'gt_instances' not in data['data_samples']['unsup_weak']
    assert 'gt_instances' in truth  # the pipeline's own sample is left as it was
    pseudo = InstanceData(bboxes=torch.tensor([[1.0, 1.0, 5.0, 5.0], [2.0, 2.0, 6.0, 6.0]]),
                          labels=torch.tensor([0, 1]), scores=torch.tensor([0.9, 0.6]),
                          weights=torch.tensor([1.0, 0.5]))
    drawn = tool.with_pseudo_labels(DetDataSample(), pseudo)
    assert drawn.gt_instances.labels.tolist() == [0]  # weight 0.5: ignored in the loss


def test_checkpoint_of_a_supervised_config_is_refused(tmp_path, tool):
    config = 'configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd.py'
    with pytest.raises(TypeError, match='builds a RetinaNet, not a semi-supervised'):
        tool.main([config, '--checkpoint', str(tmp_path / 'unused.pth'),
                   '--out-dir', str(tmp_path)])
