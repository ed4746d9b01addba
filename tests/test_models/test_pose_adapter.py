"""PoseAdapter: pseudo keypoints on the weak view, moved to the strong view,
learned through the head's own loss; reviewers must agree."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from ssl_dense.models.tasks import PoseAdapter, heatmap_keypoints, warp_heatmaps
from ssl_dense.registry import MODELS, THRESHOLDS
from tests.conftest import REPO_ROOT

META = f'{REPO_ROOT}/configs/_base_/datasets/bee_pose.py'
CODEC = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)
PACK = dict(type='PackPoseInputs', pack_transformed=True,
            meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape', 'input_size',
                       'input_center', 'input_scale', 'flip', 'flip_direction', 'flip_indices',
                       'homography_matrix'))


def _views(bee_root, ann_file='annotations/bee_pose_train.json', meta=META, prefix='',
           direction='horizontal', pack=PACK):
    """Labeled + weak (plain crop) + strong (flipped, rotated, scaled) views."""
    from ssl_dense.datasets import PoseCocoDataset
    init_default_scope('mmpose')
    affine = dict(type='ssl_dense.TopdownAffineWithHomography', input_size=(64, 64))
    strong = [dict(type='RandomFlip', direction=direction, prob=1.0),
              dict(type='RandomBBoxTransform', rotate_prob=1.0, rotate_factor=30.0,
                   scale_factor=(0.8, 1.2)), affine]
    pipeline = [dict(type='ssl_dense.MultiView',
                     shared=[dict(type='LoadImage'), dict(type='GetBBoxCenterScale')],
                     views=dict(sup=strong + [dict(type='GenerateTarget', encoder=CODEC), PACK],
                                unsup_weak=[affine, PACK], unsup_strong=strong + [pack]))]
    return PoseCocoDataset(data_root=str(bee_root), ann_file=ann_file,
                           data_prefix=dict(img=prefix), metainfo=dict(from_file=meta),
                           pipeline=pipeline)


def _model(thr=0.0, keypoints=32, **adapter):
    init_default_scope('mmpose')
    estimator = dict(
        type='TopdownPoseEstimator', _scope_='mmpose',
        data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.7, 116.3, 103.5],
                               std=[58.4, 57.1, 57.4], bgr_to_rgb=True),
        backbone=dict(type='ResNet', depth=18),
        head=dict(type='HeatmapHead', in_channels=512, out_channels=keypoints,
                  deconv_out_channels=(32, 32, 32), deconv_kernel_sizes=(4, 4, 4),
                  loss=dict(type='KeypointMSELoss', use_target_weight=True), decoder=CODEC))
    return MODELS.build(dict(type='ssl_dense.TeacherStudent', model=estimator,
                             adapter=dict(type='PoseAdapter', **adapter),
                             threshold=dict(type='FixedThreshold', thr=thr)))


def test_pseudo_targets_must_be_a_known_kind():
    with pytest.raises(ValueError, match="pseudo_targets must be one of.*'soft'"):
        PoseAdapter(pseudo_targets='soft')


def test_warp_heatmaps_follows_the_homography():
    """A shift by 8 input pixels and a scale by 2 move a peak where they say."""
    ys, xs = torch.meshgrid(torch.arange(16.), torch.arange(16.), indexing='ij')
    maps = torch.exp(-((xs - 5)**2 + (ys - 6)**2) / 2)[None]  # peak at cell (5, 6)
    shift = torch.tensor([[1., 0., 8.], [0., 1., -4.], [0., 0., 1.]])
    peak, _ = heatmap_keypoints(warp_heatmaps(maps, shift, 4.0, 4.0, (16, 16))[None], 1.0)
    assert torch.allclose(peak[0, 0], torch.tensor([7., 5.]))
    scale = torch.diag(torch.tensor([0.5, 0.5, 1.]))  # source input px -> half
    out = warp_heatmaps(maps, scale, 4.0, 2.0, (16, 16))  # same cells, finer stride
    peak, _ = heatmap_keypoints(out[None], 1.0)
    assert torch.allclose(peak[0, 0], torch.tensor([5., 6.]))
    # Target cells with no source cell behind them are zero.
    assert (warp_heatmaps(maps, shift, 4.0, 4.0, (16, 16))[0, :, 0] == 0).all()


def test_heatmap_keypoints_find_the_peak_within_a_quarter_cell():
    ys, xs = torch.meshgrid(torch.arange(16.), torch.arange(16.), indexing='ij')
    truth = torch.tensor([[5.3, 9.8], [12.0, 2.4]])  # (x, y) in cells
    maps = torch.stack([torch.exp(-((xs - x)**2 + (ys - y)**2) / 8) for x, y in truth])
    kps, scores = heatmap_keypoints(maps[None] * 0.8, stride=4.0)
    assert torch.allclose(kps[0] / 4, truth, atol=0.26)
    assert torch.allclose(scores, torch.full((1, 2), 0.8), atol=0.05)


COCO = f'{REPO_ROOT}/tests/data/coco_pose_sample'


def _coco_views():
    # mmpose's own COCO person meta (17 keypoints, left/right swaps).
    return _views(COCO, 'test_coco.json', 'configs/_base_/datasets/coco.py')


@pytest.mark.parametrize('dataset,targets', [('bee', 'gaussian'), ('coco_person', 'gaussian'),
                                             ('bee', 'teacher'), ('coco_person', 'teacher')])
def test_transfer_lands_on_the_strong_views_truth(bee_root, dataset, targets):
    """Weak-view truth, moved by the adapter, is the flipped strong view's
    truth; so are the peaks of the targets, drawn there or warped there."""
    torch.manual_seed(0)
    np.random.seed(0)
    ds = _views(bee_root) if dataset == 'bee' else _coco_views()
    adapter = PoseAdapter(pseudo_targets=targets)
    from mmpose.registry import KEYPOINT_CODECS
    adapter._codec = KEYPOINT_CODECS.build(CODEC)
    checked = 0
    for i in range(len(ds)):
        weak, strong = (ds[i]['data_samples'][k] for k in ('unsup_weak', 'unsup_strong'))
        assert strong.metainfo['flip'] and not weak.metainfo.get('flip')
        kps = torch.as_tensor(weak.gt_instances.transformed_keypoints[0]).float()
        visible = torch.as_tensor(weak.gt_instances.keypoints_visible[0]) > 0
        pseudo = [InstanceData(keypoints=kps, scores=torch.ones(len(kps)),
                               keypoint_weights=visible.float())]
        if targets == 'teacher':
            # A teacher whose heatmaps (peaks of 0.7) are the weak view's truth.
            maps = adapter._codec.encode(kps[None].numpy(), visible[None].float().numpy())
            pseudo[0].soft_heatmaps = torch.as_tensor(maps['heatmaps']) * 0.7
        moved = adapter.transfer(pseudo, [weak], [strong])[0]
        truth = torch.as_tensor(strong.gt_instances.transformed_keypoints[0]).float()
        inside = ((truth >= 0) & (truth < 64)).all(dim=1)
        strong_visible = torch.as_tensor(strong.gt_instances.keypoints_visible[0]) > 0
        use = strong_visible & inside
        assert torch.allclose(moved.keypoints[use], truth[use], atol=1e-2)
        # Kept exactly where the truth is visible and inside the crop.
        if targets == 'gaussian':
            assert torch.equal(moved.keypoint_weights > 0, use)
        else:  # no codec check: also kept where the Gaussian would leave the heatmap
            assert torch.equal(moved.keypoint_weights > 0, visible[torch.as_tensor(
                np.asarray(strong.metainfo['flip_indices']))] & inside)
        assert moved.heatmaps.shape == (len(kps), 16, 16)
        peaks, peak_values = heatmap_keypoints(moved.heatmaps[None], stride=4.0)
        near = (peaks[0] - truth).norm(dim=1)
        if targets == 'gaussian':
            assert (near[use] <= 4.0).all()
        else:
            # Warped maps peak within one cell (+ the bilinear and quarter-cell
            # rounding) wherever the truth lies a cell inside the heatmap; every
            # peak is scaled back to 1.
            central = use & ((truth >= 4) & (truth < 60)).all(dim=1)
            assert (near[central] <= 4.0 * 1.5).all()
            assert torch.allclose(peak_values[0][use], torch.ones(int(use.sum())))
        checked += int(use.sum())
    assert checked > 40


@pytest.mark.parametrize('direction', ['vertical', 'diagonal'])
def test_transfer_swaps_left_and_right_only_for_mirroring_flips(bee_root, direction):
    """A vertical flip mirrors (left and right swap), a diagonal flip is a half
    turn (no swap), as in mmpose's own flip of the truth."""
    torch.manual_seed(0)
    np.random.seed(0)
    ds = _views(bee_root, direction=direction)
    adapter = PoseAdapter()
    from mmpose.registry import KEYPOINT_CODECS
    adapter._codec = KEYPOINT_CODECS.build(CODEC)
    checked = 0
    for i in range(len(ds)):
        weak, strong = (ds[i]['data_samples'][k] for k in ('unsup_weak', 'unsup_strong'))
        assert strong.metainfo['flip_direction'] == direction
        kps = torch.as_tensor(weak.gt_instances.transformed_keypoints[0]).float()
        visible = torch.as_tensor(weak.gt_instances.keypoints_visible[0]) > 0
        pseudo = [InstanceData(keypoints=kps, scores=torch.ones(len(kps)),
                               keypoint_weights=visible.float())]
        moved = adapter.transfer(pseudo, [weak], [strong])[0]
        truth = torch.as_tensor(strong.gt_instances.transformed_keypoints[0]).float()
        use = moved.keypoint_weights > 0
        assert torch.allclose(moved.keypoints[use], truth[use], atol=1e-2)
        checked += int(use.sum())
    assert checked > 20


def test_a_mirrored_view_without_flip_metainfo_is_an_error(bee_root):
    no_flip = dict(PACK, meta_keys=tuple(k for k in PACK['meta_keys']
                                         if not k.startswith('flip')))
    ds = _views(bee_root, pack=no_flip)
    weak, strong = (ds[0]['data_samples'][k] for k in ('unsup_weak', 'unsup_strong'))
    kps = torch.as_tensor(weak.gt_instances.transformed_keypoints[0]).float()
    pseudo = [InstanceData(keypoints=kps, scores=torch.ones(len(kps)),
                           keypoint_weights=torch.ones(len(kps)))]
    with pytest.raises(KeyError, match=r"\.(jpe?g|png).*mirrored.*'flip'"):
        PoseAdapter().transfer(pseudo, [weak], [strong])


def test_teacher_student_loss_on_coco_person_keypoints():
    torch.manual_seed(0)
    model = _model(thr=0.0, keypoints=17)
    model.set_reviewer_states([model.teacher.state_dict()])
    data = model.data_preprocessor(_batch(_coco_views(), n=4), training=True)
    losses = model.loss(**data)
    for key in ('sup_loss_kpt', 'unsup_loss_kpt', 'unsup_loss_reviewer'):
        assert torch.isfinite(losses[key]) and losses[key] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()


def _batch(ds, n=2):
    return pseudo_collate([ds[i] for i in range(n)])


@pytest.mark.parametrize('targets', ['gaussian', 'teacher'])
def test_teacher_student_loss_with_reviewers_on_real_images(bee_root, targets):
    torch.manual_seed(0)
    ds = _views(bee_root)
    model = _model(thr=0.0, pseudo_targets=targets)
    model.set_reviewer_states([model.teacher.state_dict()])
    data = model.data_preprocessor(_batch(ds), training=True)
    losses = model.loss(**data)
    for key in ('sup_loss_kpt', 'unsup_loss_kpt', 'unsup_loss_reviewer'):
        assert key in losses and torch.isfinite(losses[key]) and losses[key] > 0
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert model.student.backbone.conv1.weight.grad is not None
    assert all(p.grad is None for p in model.teacher.parameters())


def test_no_kept_keypoint_gives_an_exact_zero_loss(bee_root):
    ds = _views(bee_root)
    model = _model(thr=0.5)
    with torch.no_grad():  # a teacher whose heatmaps are all 0: nothing passes 0.5
        model.teacher.head.final_layer.weight.zero_()
        model.teacher.head.final_layer.bias.zero_()
    data = model.data_preprocessor(_batch(ds), training=True)
    losses = model.loss(**data)
    assert losses['unsup_loss_kpt'].item() == 0.0
    sum(v for k, v in losses.items() if 'loss' in k).backward()


class _Fixed(nn.Module):
    """A stand-in model whose head returns fixed heatmaps."""

    def __init__(self, heatmaps):
        super().__init__()
        self.maps = heatmaps
        self.head = nn.Module()
        self.head.forward = lambda feats: self.maps
        self.head.decoder = None

    def extract_feat(self, inputs):
        return inputs


def test_keypoints_the_reviewer_disagrees_on_are_dropped():
    ys, xs = torch.meshgrid(torch.arange(16.), torch.arange(16.), indexing='ij')

    def maps(points):
        return torch.stack([torch.exp(-((xs - x)**2 + (ys - y)**2) / 8) * 0.9
                            for x, y in points])[None]

    teacher = _Fixed(maps([(4, 4), (10, 10)]))
    teacher.head.decoder = type('Codec', (), {'encode': lambda *a: None})()
    reviewer = _Fixed(maps([(4.4, 4), (2, 14)]))  # agrees on keypoint 0 only
    adapter = PoseAdapter(agree_dist=0.05)
    threshold = THRESHOLDS.build(dict(type='ssl_dense.FixedThreshold', num_classes=2, thr=0.5))
    pseudo = adapter.pseudo_labels(teacher, torch.zeros(1, 3, 64, 64), [None], threshold,
                                   reviewers=[reviewer])
    assert pseudo[0].keypoint_weights.tolist() == [1.0, 0.0]
    # Both keypoints pass the threshold; the reviewer confirms one of them.
    from mmengine.logging import MessageHub
    agree = MessageHub.get_current_instance().get_scalar('train/pl_reviewer_agree')
    assert agree.current() == pytest.approx(0.5)
    assert torch.allclose(pseudo[0].reviewer_keypoints[0], torch.tensor([4.4, 4.0]) * 4,
                          atol=1.1)
    without = adapter.pseudo_labels(teacher, torch.zeros(1, 3, 64, 64), [None], threshold)
    assert without[0].keypoint_weights.tolist() == [1.0, 1.0]


def test_the_fused_teacher_reviewer_score_meets_each_keypoints_own_threshold():
    """The score thresholded is the mean of teacher and reviewer peaks, and
    each keypoint is held to its own threshold."""
    ys, xs = torch.meshgrid(torch.arange(16.), torch.arange(16.), indexing='ij')

    def maps(points, peak):
        return torch.stack([torch.exp(-((xs - x)**2 + (ys - y)**2) / 8) * peak
                            for x, y in points])[None]

    teacher = _Fixed(maps([(4, 4), (10, 10)], 0.9))
    teacher.head.decoder = type('Codec', (), {'encode': lambda *a: None})()
    reviewer = _Fixed(maps([(4, 4), (10, 10)], 0.3))  # agrees on both, less sure
    threshold = THRESHOLDS.build(dict(type='ssl_dense.FixedThreshold', num_classes=2,
                                      thr=[0.5, 0.7]))
    adapter = PoseAdapter(agree_dist=0.05)
    pseudo = adapter.pseudo_labels(teacher, torch.zeros(1, 3, 64, 64), [None], threshold,
                                   reviewers=[reviewer])
    assert pseudo[0].scores.tolist() == pytest.approx([0.6, 0.6])
    # 0.6 passes keypoint 0's threshold (0.5), not keypoint 1's (0.7).
    assert pseudo[0].keypoint_weights.tolist() == [1.0, 0.0]
    alone = adapter.pseudo_labels(teacher, torch.zeros(1, 3, 64, 64), [None], threshold)
    assert alone[0].scores.tolist() == pytest.approx([0.9, 0.9])
    assert alone[0].keypoint_weights.tolist() == [1.0, 1.0]


def test_many_keypoints_are_logged_as_totals(bee_root):
    """32 keypoints: pl_num / pl_score / thr_mean instead of 96 per-keypoint scalars."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('pose_log_test')
    ds = _views(bee_root)
    model = _model(thr=0.0)
    data = model.data_preprocessor(_batch(ds), training=True)
    model.loss(**data)
    scalars = hub.log_scalars
    assert scalars['train/pl_num'].current() > 0 and 'train/thr_mean' in scalars
    assert not any(k.startswith('train/pl_num_') for k in scalars)


def test_hidden_truth_gives_pseudo_keypoint_precision_and_recall(bee_root):
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('pose_quality_test')
    model = _model(thr=0.0)
    model.hidden_gt = True
    data = model.data_preprocessor(_batch(_views(bee_root)), training=True)
    model.loss(**data)
    precision = hub.log_scalars['train/pl_precision'].current()
    recall = hub.log_scalars['train/pl_recall'].current()
    # An untrained teacher keeps every keypoint (threshold 0) but places few right.
    assert 0.0 <= precision < 0.5 and 0.0 <= recall < 0.5
    assert not any(k.startswith('train/pl_precision_') for k in hub.log_scalars)


def test_flip_test_averages_the_mirror_images_heatmaps_left_and_right_swapped():
    from mmengine.structures import BaseDataElement

    class Echo(nn.Module):
        """A 'model' whose heatmaps are its input channels."""
        test_cfg = dict(shift_heatmap=False)
        head = nn.Identity()

        def extract_feat(self, inputs):
            return inputs

    maps = torch.zeros(1, 2, 8, 8)
    maps[0, 0, 3, 1] = 1.0   # a left keypoint near the left edge
    maps[0, 1, 3, 6] = 0.5   # its right twin
    samples = [BaseDataElement(metainfo=dict(flip_indices=[1, 0], img_path='a.png'))]
    plain = PoseAdapter().teacher_heatmaps(Echo(), maps, samples)
    assert torch.equal(plain, maps)
    out = PoseAdapter(flip_test=True).teacher_heatmaps(Echo(), maps, samples)
    # Echo's heatmaps of the mirror image, mirrored back, are its input again;
    # the left/right swap then puts channel 1 into channel 0 and back
    assert torch.equal(out, (maps + maps[:, [1, 0]]) / 2)
    assert out[0, 0, 3, 1] == 0.5 and out[0, 0, 3, 6] == 0.25
    with pytest.raises(KeyError, match='flip_indices.*a.png'):
        PoseAdapter(flip_test=True).teacher_heatmaps(
            Echo(), maps, [BaseDataElement(metainfo=dict(img_path='a.png'))])


def test_oracle_keypoints_are_the_weak_views_truth_and_land_on_the_strong_views(bee_root):
    """The oracle diagnostic hands the weak view's visible truth to the same
    transfer as pseudo keypoints, so an oracle run measures the unlabeled
    path itself; a sample without hidden truth is named."""
    from ssl_dense.models.tasks import OraclePoseAdapter
    torch.manual_seed(0)
    np.random.seed(0)
    model = _model()
    adapter = OraclePoseAdapter()
    ds = _views(bee_root)
    items = [ds[i]['data_samples'] for i in range(len(ds))]
    weak, strong = [s['unsup_weak'] for s in items], [s['unsup_strong'] for s in items]
    inputs = torch.zeros(len(weak), 3, 64, 64)
    pseudo = adapter.pseudo_labels(model.teacher, inputs, weak, model.threshold)
    checked = 0
    for inst, sample in zip(pseudo, weak):
        visible = torch.as_tensor(sample.gt_instances.keypoints_visible[0]) > 0
        assert torch.equal(inst.keypoint_weights > 0, visible)
        assert torch.allclose(inst.keypoints, torch.as_tensor(
            sample.gt_instances.transformed_keypoints[0]).float())
    for inst, sample in zip(adapter.transfer(pseudo, weak, strong), strong):
        truth = torch.as_tensor(sample.gt_instances.transformed_keypoints[0]).float()
        inside = ((truth >= 0) & (truth < 64)).all(dim=1)
        use = (torch.as_tensor(sample.gt_instances.keypoints_visible[0]) > 0) & inside
        assert torch.equal(inst.keypoint_weights > 0, use)
        assert torch.allclose(inst.keypoints[use], truth[use], atol=1e-2)
        checked += int(use.sum())
    assert checked > 40
    bare = weak[0].clone()
    del bare.gt_instances
    with pytest.raises(KeyError, match=r'\.(png|jpe?g) has no gt_instances.transformed_'
                                       r'keypoints: OraclePoseAdapter'):
        adapter.pseudo_labels(model.teacher, inputs[:1], [bare], model.threshold)


def test_oracle_kept_by_the_teacher_keeps_only_what_the_threshold_passes(bee_root):
    """keep='teacher': true locations, but only for the visible keypoints
    whose teacher heatmap maximum passes the threshold."""
    from ssl_dense.models.tasks import OraclePoseAdapter
    with pytest.raises(ValueError, match="keep must be one of .*'truth'"):
        OraclePoseAdapter(keep='truth')
    ds = _views(bee_root)
    weak = [ds[i]['data_samples']['unsup_weak'] for i in range(2)]
    model = _model(thr=0.5)
    adapter = OraclePoseAdapter(keep='teacher')
    # A teacher sure of the second half of the keypoints only (maxima 0.9 / 0.3).
    maps = torch.zeros(2, 32, 16, 16)
    maps[:, :16, 3, 4], maps[:, 16:, 7, 9] = 0.3, 0.9
    adapter.teacher_heatmaps = lambda teacher, inputs, samples: maps
    pseudo = adapter.pseudo_labels(model.teacher, torch.zeros(2, 3, 64, 64), weak,
                                   model.threshold)
    sure = torch.arange(32) >= 16
    for inst, sample in zip(pseudo, weak):
        visible = torch.as_tensor(sample.gt_instances.keypoints_visible[0]) > 0
        assert (visible & sure).any() and (visible & ~sure).any()
        assert torch.equal(inst.keypoint_weights > 0, visible & sure)
        assert torch.allclose(inst.keypoints, torch.as_tensor(
            sample.gt_instances.transformed_keypoints[0]).float())
