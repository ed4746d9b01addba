"""TeacherStudent + DetectionAdapter on real BCCD data."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from ssl_dense.models.semi import FixedThreshold
from ssl_dense.models.tasks import DetectionAdapter
from ssl_dense.registry import MODELS
from tests.conftest import small_det_config

SEMI_CONFIG = 'configs/mean_teacher/mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py'


def _sample(h_matrix, img_shape=(240, 320)):
    sample = DetDataSample()
    sample.set_metainfo(dict(homography_matrix=np.asarray(h_matrix, dtype=np.float32),
                             img_shape=img_shape))
    return sample


def test_transfer_through_flip_and_resize_golden_values():
    # Weak view: resize 640x480 -> 320x240. Strong view: same resize, then
    # horizontal flip of the 320-wide image.
    resize = np.diag([0.5, 0.5, 1.0])
    flip = np.array([[-1, 0, 320], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    pseudo = [InstanceData(bboxes=torch.tensor([[10., 20., 50., 60.], [300., 0., 330., 30.]]),
                           labels=torch.tensor([0, 1]), scores=torch.tensor([0.9, 0.8]),
                           weights=torch.tensor([1.0, 1.0]))]
    moved = DetectionAdapter().transfer(pseudo, [_sample(resize)], [_sample(flip @ resize)])[0]
    # x -> 320 - x; the second box is clipped to the image and kept.
    torch.testing.assert_close(moved.bboxes, torch.tensor([[270., 20., 310., 60.],
                                                          [0., 0., 20., 30.]]))
    assert moved.labels.tolist() == [0, 1]


def test_transfer_drops_boxes_that_leave_the_view():
    crop = np.array([[1, 0, -200], [0, 1, 0], [0, 0, 1]], dtype=np.float32)  # shift left
    pseudo = [InstanceData(bboxes=torch.tensor([[10., 20., 50., 60.]]), labels=torch.tensor([0]),
                           scores=torch.tensor([0.9]), weights=torch.tensor([1.0]))]
    moved = DetectionAdapter().transfer(pseudo, [_sample(np.eye(3))], [_sample(crop)])[0]
    assert len(moved) == 0


def _semi_cfg(tmp_path, max_iters=4, score_thr=0.0, thr=0.0):
    cfg = Config.fromfile(SEMI_CONFIG)
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10**6)
    cfg.param_scheduler = []
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.custom_hooks = [dict(type='TeacherEMAHook', burn_in_iters=1, momentum=0.9),
                        dict(type='UnsupWeightHook', burn_in_iters=1),
                        dict(type='DatasetMetaHook')]
    cfg.model.model.test_cfg.score_thr = score_thr
    cfg.model.threshold = dict(type='FixedThreshold', thr=thr)
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2)
    cfg.experiment_name = f'semi_{tmp_path.name}'
    return cfg


def test_semi_training_learns_from_pseudo_boxes(tmp_path):
    runner = Runner.from_cfg(_semi_cfg(tmp_path))
    runner.train()
    hub = runner.message_hub
    assert hub.get_scalar('train/unsup_weight').current() == 1.0
    counts = sum(hub.get_scalar(f'train/pl_num_{c}').current()
                 for c in ('RBC', 'WBC', 'Platelets'))
    assert counts > 0
    assert 'train/thr_RBC' in hub.log_scalars
    for key in ('sup_loss_cls', 'unsup_loss_cls', 'unsup_loss_bbox'):
        value = hub.get_scalar(f'train/{key}').current()
        assert np.isfinite(value), key
    assert hub.get_scalar('train/unsup_loss_cls').current() > 0
    # The teacher is an EMA: close to, but not equal to, the student.
    t = runner.model.teacher.bbox_head.retina_cls.weight
    s = runner.model.student.bbox_head.retina_cls.weight
    assert not torch.equal(t, s) and torch.allclose(t, s, atol=1e-2)
    assert not t.requires_grad and not runner.model.teacher.training


def test_zero_pseudo_labels_give_finite_zero_loss(tmp_path):
    # A threshold above every score: no pseudo label survives.
    runner = Runner.from_cfg(_semi_cfg(tmp_path, max_iters=3, thr=1.0))
    runner.train()
    loss = runner.message_hub.get_scalar('train/unsup_loss_pseudo').current()
    assert loss == 0.0
    assert np.isfinite(runner.message_hub.get_scalar('train/loss').current())


def test_supervised_checkpoint_loads_into_teacher_and_student(tmp_path):
    sup = small_det_config(tmp_path / 'sup', max_iters=1, ckpt_interval=1)
    sup.experiment_name = 'sup_for_semi'
    Runner.from_cfg(sup).train()
    cfg = _semi_cfg(tmp_path / 'semi', max_iters=1)
    cfg.load_from = str(tmp_path / 'sup' / 'iter_1.pth')
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    saved = torch.load(tmp_path / 'sup' / 'iter_1.pth', weights_only=False)['state_dict']
    for key, value in saved.items():
        torch.testing.assert_close(runner.model.student.state_dict()[key], value)
        torch.testing.assert_close(runner.model.teacher.state_dict()[key], value)


def test_resume_restores_teacher_and_threshold_state(tmp_path):
    cfg = _semi_cfg(tmp_path / 'a', max_iters=2)
    cfg.model.threshold = dict(type='AdaptiveThreshold')
    Runner.from_cfg(cfg).train()
    saved = torch.load(tmp_path / 'a' / 'iter_2.pth', weights_only=False)['state_dict']
    assert 'threshold.ema' in saved
    cfg = _semi_cfg(tmp_path / 'b', max_iters=2)
    cfg.model.threshold = dict(type='AdaptiveThreshold')
    cfg.resume, cfg.load_from = True, str(tmp_path / 'a' / 'iter_2.pth')
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    state = runner.model.state_dict()
    for key in ('threshold.ema', 'teacher.bbox_head.retina_cls.weight'):
        assert torch.equal(state[key], saved[key]), key


def test_resume_restores_the_expected_box_count(tmp_path):
    """``expected_count_norm``'s running mean of boxes per labeled image is
    in the checkpoint and comes back with --resume; without the option the
    checkpoint has no adapter key (older checkpoints still load)."""
    cfg = _semi_cfg(tmp_path / 'a', max_iters=2)
    cfg.model.adapter = dict(type='DetectionAdapter', expected_count_norm=('loss_cls', ))
    runner = Runner.from_cfg(cfg)
    runner.train()
    saved = torch.load(tmp_path / 'a' / 'iter_2.pth', weights_only=False)['state_dict']
    assert saved['adapter.boxes_per_image'].item() == pytest.approx(
        runner.model.adapter.boxes_per_image) and runner.model.adapter.boxes_per_image > 0
    cfg = _semi_cfg(tmp_path / 'b', max_iters=2)
    cfg.model.adapter = dict(type='DetectionAdapter', expected_count_norm=('loss_cls', ))
    cfg.resume, cfg.load_from = True, str(tmp_path / 'a' / 'iter_2.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.load_or_resume()
    assert resumed.model.adapter.boxes_per_image == pytest.approx(
        saved['adapter.boxes_per_image'].item())
    plain = MODELS.build(_semi_cfg(tmp_path / 'c').model)
    assert not any(k.startswith('adapter.') for k in plain.state_dict())
    plain.load_state_dict({k: v for k, v in saved.items() if not k.startswith('adapter.')})


def test_branch_mismatch_is_a_clear_error():
    cfg = Config.fromfile(SEMI_CONFIG)
    model = MODELS.build(cfg.model)
    with pytest.raises(KeyError, match="branches \\['unlabeled'\\] that the model does not"):
        model.loss({'unlabeled': torch.zeros(1, 3, 32, 32)}, {'unlabeled': []})
    with pytest.raises(KeyError, match="need both 'unsup_weak' and 'unsup_strong'"):
        model.loss({'unsup_weak': torch.zeros(1, 3, 32, 32)}, {'unsup_weak': []})
    with pytest.raises(TypeError, match='MultiView'):
        model.loss(torch.zeros(1, 3, 32, 32), [])


def test_threshold_sized_from_the_detector():
    cfg = Config.fromfile(SEMI_CONFIG)
    model = MODELS.build(cfg.model)
    assert isinstance(model.threshold, FixedThreshold)
    assert model.threshold.num_classes == 3


def test_validation_reports_teacher_and_student(tmp_path):
    cfg = _semi_cfg(tmp_path, max_iters=2)
    base = Config.fromfile(SEMI_CONFIG)
    cfg.val_dataloader = base.val_dataloader
    cfg.val_dataloader.dataset.indices = 4
    cfg.val_dataloader.num_workers = 0
    cfg.val_dataloader.persistent_workers = False
    cfg.val_evaluator = base.val_evaluator
    cfg.val_cfg = dict(type='TeacherStudentValLoop')
    cfg.train_cfg.val_interval = 2
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    for key in ('teacher/coco/bbox_mAP', 'student/coco/bbox_mAP', 'coco/bbox_mAP'):
        assert key in metrics, sorted(metrics)
    assert metrics['coco/bbox_mAP'] == metrics['teacher/coco/bbox_mAP']
    assert runner.model.predict_on == 'teacher'


class _FixedTeacher(torch.nn.Module):
    """Stands in for a detector: returns fixed predictions for each sample."""

    def __init__(self, preds):
        super().__init__()
        self.preds = preds

    def predict(self, inputs, data_samples, rescale=False):
        out = []
        for sample, pred in zip(data_samples, self.preds):
            assert 'gt_instances' not in sample  # the teacher never sees labels
            sample.pred_instances = pred
            out.append(sample)
        return out


class _RecordingStudent(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def loss(self, inputs, data_samples):
        assert inputs.shape[0] == len(data_samples)
        self.samples = data_samples
        return dict(loss_cls=self.w * 1.0)


def test_dual_threshold_band_becomes_ignored_instances():
    from ssl_dense.models.semi import DualThreshold
    pred = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.], [20., 20., 40., 40.],
                                             [50., 50., 60., 60.]]),
                        scores=torch.tensor([0.9, 0.5, 0.1]), labels=torch.tensor([0, 1, 1]))
    sample = _sample(np.eye(3))
    sample.gt_instances = InstanceData(bboxes=torch.zeros(1, 4), labels=torch.zeros(1).long())
    adapter = DetectionAdapter()
    policy = DualThreshold(2, init_high=0.7, init_low=0.3)
    pseudo = adapter.pseudo_labels(_FixedTeacher([pred]), None, [sample], policy)[0]
    assert pseudo.labels.tolist() == [0, 1]  # 0.1 is below the low threshold
    assert pseudo.weights.tolist() == pytest.approx([1.0, 0.5])
    student = _RecordingStudent()
    strong = _sample(np.eye(3))
    losses = adapter.unsupervised_loss(student, torch.zeros(1, 3, 8, 8), [strong], [pseudo])
    used = student.samples[0]
    assert used.gt_instances.bboxes.tolist() == [[0., 0., 10., 10.]]
    assert used.ignored_instances.bboxes.tolist() == [[20., 20., 40., 40.]]
    assert losses['loss_cls'].requires_grad
    # Logged counts are pseudo labels: the certain box, not the band one.
    stats = adapter.pseudo_label_stats([pseudo], 2)
    assert stats['count'].tolist() == [1.0, 0.0]
    assert stats['mean_score'].tolist() == pytest.approx([0.9, 0.0])


def test_band_boxes_on_a_certain_box_are_dropped_not_ignored():
    """mmdet's assigners ignore an anchor inside an ignored region even when
    it matches a certain box: a band box on a certain box (a duplicate, or
    the same cell scored as another class) would take that box's best
    anchors. It is dropped; a band box elsewhere stays an ignored region."""
    inst = InstanceData(bboxes=torch.tensor([[0., 0., 40., 40.], [2., 0., 40., 40.],
                                             [0., 0., 40., 24.], [60., 60., 90., 90.]]),
                        labels=torch.tensor([0, 1, 0, 0]), scores=torch.tensor([.9, .4, .4, .4]),
                        weights=torch.tensor([1., .4, .4, .4]))
    student = _RecordingStudent()
    DetectionAdapter().unsupervised_loss(student, torch.zeros(1, 3, 8, 8),
                                         [_sample(np.eye(3))], [inst])
    # IoU with the certain box: 0.95 (other class), 0.6 (same class), 0.
    assert student.samples[0].ignored_instances.bboxes.tolist() == [[60., 60., 90., 90.]]
    student = _RecordingStudent()
    DetectionAdapter(band_overlap_iou=0.7).unsupervised_loss(
        student, torch.zeros(1, 3, 8, 8), [_sample(np.eye(3))], [inst])
    assert len(student.samples[0].ignored_instances) == 2


@pytest.mark.parametrize('detector, ignores', [('retinanet', True), ('faster-rcnn', True),
                                               ('fcos', False)])
def test_which_shipped_detectors_read_ignored_regions(detector, ignores):
    """Band boxes only work where an assigner ignores anchors on them; FCOS
    has no assigner, and mmdet's Faster R-CNN default (-1) ignores nothing,
    so the semi configs set 0.5 for both of its stages."""
    from ssl_dense.models.tasks.detection import ignores_regions
    cfg = Config.fromfile(f'configs/mean_teacher/mean-teacher_{detector}_effl0_fpn_1xb4-1k_'
                          'semi-10pct-bccd.py')
    cfg.model.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    assert ignores_regions(model.student) is ignores
    if detector == 'faster-rcnn':
        assert model.student.rpn_head.assigner.ignore_iof_thr == 0.5
        assert model.student.roi_head.bbox_assigner.ignore_iof_thr == 0.5


def test_a_student_that_ignores_nothing_gets_one_warning():
    from unittest.mock import patch
    band = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.], [50., 50., 60., 60.]]),
                        labels=torch.tensor([0, 0]), scores=torch.tensor([.9, .4]),
                        weights=torch.tensor([1., .4]))
    adapter = DetectionAdapter()
    with patch('ssl_dense.models.tasks.detection.print_log') as warn:
        for _ in range(2):
            adapter.unsupervised_loss(_RecordingStudent(), torch.zeros(1, 3, 8, 8),
                                      [_sample(np.eye(3))], [band])
    assert warn.call_count == 1
    assert 'no assigner that ignores them' in warn.call_args.args[0]


def test_labeled_scores_keep_teacher_boxes_that_match_ground_truth():
    pred = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.], [20., 20., 40., 40.],
                                             [0., 0., 10., 10.]]),
                        scores=torch.tensor([0.9, 0.6, 0.4]), labels=torch.tensor([0, 1, 1]))
    sample = _sample(np.eye(3))
    # GT: class 0 at the first box; class 1 far from the second box.
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[1., 1., 10., 10.],
                                                            [60., 60., 80., 80.]]),
                                       labels=torch.tensor([0, 1]))
    scores, labels = DetectionAdapter().labeled_scores(_FixedTeacher([pred]), None, [sample])
    # Box 3 overlaps the class-0 GT but predicts class 1: not a match.
    assert scores.tolist() == pytest.approx([0.9]) and labels.tolist() == [0]


def test_reviewer_boxes_are_ensembled_with_the_teacher():
    teacher_pred = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]),
                                scores=torch.tensor([0.6]), labels=torch.tensor([0]))
    reviewer_pred = InstanceData(bboxes=torch.tensor([[0., 0., 10., 11.], [30., 30., 50., 50.]]),
                                 scores=torch.tensor([0.9, 0.8]), labels=torch.tensor([0, 1]))
    adapter = DetectionAdapter()
    pseudo = adapter.pseudo_labels(_FixedTeacher([teacher_pred]), None, [_sample(np.eye(3))],
                                   FixedThreshold(2, thr=0.5),
                                   reviewers=[_FixedTeacher([reviewer_pred])])[0]
    # The overlapping pair keeps the higher score; the reviewer's extra box is added.
    order = pseudo.scores.argsort(descending=True)
    assert pseudo.scores[order].tolist() == pytest.approx([0.9, 0.8])
    assert pseudo.labels[order].tolist() == [0, 1]


def test_reviewer_hook_keeps_a_bank_and_checkpoints_it(tmp_path):
    from ssl_dense.engine import ReviewerHook
    cfg = _semi_cfg(tmp_path / 'a', max_iters=4)
    cfg.custom_hooks.append(dict(type='ReviewerHook', num_snapshots=2, interval=1,
                                 start_iter=2))
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, ReviewerHook))
    assert hook.iters == [3, 4]  # snapshots after iterations 2, 3 and 4, last two kept
    assert len(runner.model.reviewers) == 2
    assert not any(p.requires_grad for r in runner.model.reviewers for p in r.parameters())
    key = 'bbox_head.retina_cls.weight'
    torch.testing.assert_close(runner.model.reviewers[-1].state_dict()[key],
                               runner.model.teacher.state_dict()[key])
    from ssl_dense.utils import safe_torch_load
    saved = safe_torch_load(str(tmp_path / 'a' / 'iter_4.pth'))
    assert saved['reviewer_bank']['iters'] == [3, 4]
    # Resume restores the bank into the model.
    cfg = _semi_cfg(tmp_path / 'b', max_iters=4)
    cfg.custom_hooks.append(dict(type='ReviewerHook', num_snapshots=2, interval=100))
    cfg.resume, cfg.load_from = True, str(tmp_path / 'a' / 'iter_4.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert len(resumed.model.reviewers) == 2
    for key, value in saved['reviewer_bank']['states'][0].items():
        assert torch.equal(resumed.model.reviewers[0].state_dict()[key], value)


def test_reviewer_hook_best_snapshots_only_on_improvement():
    """when='best': a snapshot after each validation that beats the best so
    far (none before start_iter); a metric the validation lacks is named."""
    import logging
    from types import SimpleNamespace

    from ssl_dense.engine import ReviewerHook

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.teacher = torch.nn.Linear(1, 1, bias=False)
            self.banks = []

        def set_reviewer_states(self, states):
            self.banks.append(len(states))

    model = Model()
    runner = SimpleNamespace(model=model, iter=0, logger=logging.getLogger('reviewer_best'))
    hook = ReviewerHook(num_snapshots=2, when='best', start_iter=10, metric='PCK')
    for it, value, weight in ((5, 0.9, 1.0), (10, 0.5, 2.0), (20, 0.4, 3.0), (30, 0.7, 4.0),
                              (40, 0.6, 5.0), (50, 0.8, 6.0)):
        runner.iter = it
        model.teacher.weight.data.fill_(weight)
        hook.after_train_iter(runner, 0)  # 'best' takes no interval snapshots
        hook.after_val_epoch(runner, dict(PCK=value))
    assert hook.iters == [30, 50] and hook.best == 0.8
    assert [s['weight'].item() for s in hook.states] == [4.0, 6.0]
    with pytest.raises(KeyError, match="metric 'PCK' is not among the validation metrics"):
        hook.after_val_epoch(runner, {'coco/AP': 0.5})


@pytest.mark.parametrize('detector', ['retinanet', 'fcos', 'faster-rcnn'])
def test_one_and_two_stage_detectors_train_semi_supervised(detector, tmp_path):
    cfg = _semi_cfg(tmp_path, max_iters=2)
    other = Config.fromfile(f'configs/mean_teacher/mean-teacher_{detector}_effl0_fpn_1xb4-1k_'
                            'semi-10pct-bccd.py')
    cfg.model.model = other.model.model
    test_cfg = cfg.model.model.test_cfg
    (test_cfg.rcnn if 'rcnn' in test_cfg else test_cfg).score_thr = 0.0
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    assert sum(hub.get_scalar(f'train/pl_num_{c}').current()
               for c in ('RBC', 'WBC', 'Platelets')) > 0
    unsup = [k for k in hub.log_scalars if k.startswith('train/unsup_loss')]
    assert unsup and all(np.isfinite(hub.get_scalar(k).current()) for k in unsup)
    if detector == 'faster-rcnn':
        assert 'train/unsup_loss_rpn_cls' in hub.log_scalars


def test_images_without_certain_pseudo_boxes_are_left_out():
    adapter = DetectionAdapter()
    certain = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([0]),
                           scores=torch.tensor([0.9]), weights=torch.tensor([1.0]))
    uncertain = InstanceData(bboxes=torch.tensor([[5., 5., 20., 20.]]), labels=torch.tensor([0]),
                             scores=torch.tensor([0.5]), weights=torch.tensor([0.5]))
    student = _RecordingStudent()
    inputs = torch.arange(2.).view(2, 1, 1, 1).expand(2, 3, 4, 4)
    samples = [_sample(np.eye(3)), _sample(np.eye(3))]
    adapter.unsupervised_loss(student, inputs, samples, [uncertain, certain])
    # Only the second image (with a certain box) reaches the student.
    assert len(student.samples) == 1
    assert student.samples[0].gt_instances.bboxes.tolist() == [[0., 0., 10., 10.]]
    # Only uncertain boxes anywhere: exact zero, still connected to the student.
    losses = adapter.unsupervised_loss(student, inputs, samples, [uncertain, uncertain])
    assert losses['loss_pseudo'].item() == 0.0 and losses['loss_pseudo'].requires_grad


def test_a_rank_without_pseudo_boxes_still_runs_the_loss_under_ddp(monkeypatch):
    """Under DDP a rank with no certain pseudo box runs the student's loss
    anyway (heads such as FCOS all-reduce inside it; skipping it leaves the
    other ranks waiting) on one image without boxes, weighted 0."""
    import ssl_dense.models.tasks.detection as detection
    monkeypatch.setattr(detection, 'get_world_size', lambda: 2)
    uncertain = InstanceData(bboxes=torch.tensor([[5., 5., 20., 20.]]), labels=torch.tensor([0]),
                             scores=torch.tensor([0.5]), weights=torch.tensor([0.5]))
    student = _RecordingStudent()
    inputs = torch.ones(2, 3, 4, 4)
    losses = DetectionAdapter().unsupervised_loss(
        student, inputs, [_sample(np.eye(3)), _sample(np.eye(3))], [uncertain, uncertain])
    assert len(student.samples) == 1 and len(student.samples[0].gt_instances) == 0
    assert all(v.item() == 0.0 for v in losses.values())
    assert any(v.requires_grad for v in losses.values())


def test_pseudo_label_quality_against_hidden_ground_truth():
    sample = _sample(np.eye(3))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 10.], [20., 20., 40., 40.], [60., 60., 70., 70.]]),
        labels=torch.tensor([0, 1, 1]))
    # Correct class-0 box; class-1 box on the class-0 object (wrong); an
    # uncertain box (weight 0.5) on a class-1 object: not counted.
    pseudo = InstanceData(bboxes=torch.tensor([[1., 0., 10., 10.], [0., 0., 10., 10.],
                                               [20., 20., 40., 40.]]),
                          labels=torch.tensor([0, 1, 1]), scores=torch.tensor([.9, .8, .5]),
                          weights=torch.tensor([1., 1., .5]))
    q = DetectionAdapter().pseudo_label_quality([pseudo], [sample], 2)
    assert q['num_pseudo'].tolist() == [1., 1.] and q['tp'].tolist() == [1., 0.]
    assert q['num_gt'].tolist() == [1., 2.] and q['num_gt_found'].tolist() == [1., 0.]
    # Two certain boxes on one object (IoU 0.7 each with it): one is right,
    # the duplicate is a false positive, as in detection metrics.
    twice = InstanceData(bboxes=torch.tensor([[0., 0., 10., 7.], [0., 3., 10., 10.]]),
                         labels=torch.tensor([0, 0]), scores=torch.tensor([.8, .9]),
                         weights=torch.tensor([1., 1.]))
    q = DetectionAdapter().pseudo_label_quality([twice], [sample], 2)
    assert q['num_pseudo'].tolist() == [2., 0.] and q['tp'].tolist() == [1., 0.]
    assert q['num_gt_found'].tolist() == [1., 0.]
    with pytest.raises(KeyError, match='hidden ground truth'):
        DetectionAdapter().pseudo_label_quality([pseudo], [_sample(np.eye(3))], 2)


def test_hidden_gt_config_logs_pseudo_label_precision_and_recall(tmp_path):
    cfg = _semi_cfg(tmp_path, max_iters=2)
    hidden = Config.fromfile('configs/mean_teacher/mean-teacher-hidden-gt_retinanet_'
                             'effl0_fpn_1xb4-1k_semi-10pct-bccd.py')
    cfg.model.hidden_gt = True
    cfg.train_dataloader.dataset.unlabeled.ann_file = \
        hidden.train_dataloader.dataset.unlabeled.ann_file
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    recall = hub.get_scalar('train/pl_recall').current()
    assert 0.0 <= recall <= 1.0
    assert 0.0 <= hub.get_scalar('train/pl_recall_RBC').current() <= 1.0
    assert 0.0 <= hub.get_scalar('train/pl_precision').current() <= 1.0
    # The hidden boxes never reach a loss: the same run without them has
    # exactly the same losses.
    plain = Runner.from_cfg(_semi_cfg(tmp_path / 'plain', max_iters=2))
    plain.train()
    for key in ('loss', 'unsup_loss_cls', 'unsup_loss_bbox'):
        assert plain.message_hub.get_scalar(f'train/{key}').current() == hub.get_scalar(
            f'train/{key}').current(), key


def test_unsupervised_loss_weights_by_loss_name():
    pseudo = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([0]),
                          scores=torch.tensor([0.9]), weights=torch.tensor([1.0]))
    student = _RecordingStudent()
    losses = DetectionAdapter(loss_weights=dict(loss_cls=0.25)).unsupervised_loss(
        student, torch.zeros(1, 3, 8, 8), [_sample(np.eye(3))], [pseudo])
    assert losses['loss_cls'].item() == pytest.approx(0.25) and losses['loss_cls'].requires_grad
    with pytest.raises(KeyError, match=r"names \['loss_bbox'\].*returns the losses \['loss_cls'\]"):
        DetectionAdapter(loss_weights=dict(loss_bbox=0.0)).unsupervised_loss(
            student, torch.zeros(1, 3, 8, 8), [_sample(np.eye(3))], [pseudo])


def test_expected_count_norm_scales_loss_by_found_over_expected_boxes():
    def labeled(n):
        sample = _sample(np.eye(3))
        sample.gt_instances = InstanceData(bboxes=torch.zeros(n, 4), labels=torch.zeros(n).long())
        return sample

    pseudo = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([0]),
                          scores=torch.tensor([0.9]), weights=torch.tensor([1.0]))
    adapter = DetectionAdapter(expected_count_norm=('loss_cls', ), count_momentum=0.5)
    student = _RecordingStudent()
    # Before any labeled batch there is nothing to expect: plain normalisation.
    losses = adapter.unsupervised_loss(student, torch.zeros(1, 3, 8, 8), [_sample(np.eye(3))],
                                       [pseudo])
    assert losses['loss_cls'].item() == pytest.approx(1.0)
    adapter.supervised_loss(student, torch.zeros(2, 3, 8, 8), [labeled(2), labeled(6)])
    assert adapter.boxes_per_image == pytest.approx(4.0)
    adapter.supervised_loss(student, torch.zeros(1, 3, 8, 8), [labeled(8)])
    assert adapter.boxes_per_image == pytest.approx(6.0)  # 0.5 * 4 + 0.5 * 8
    # One pseudo box where 6 objects are expected: the loss is scaled by 1/6
    # and stays connected to the student.
    losses = adapter.unsupervised_loss(student, torch.zeros(1, 3, 8, 8), [_sample(np.eye(3))],
                                       [pseudo])
    assert losses['loss_cls'].item() == pytest.approx(1 / 6) and losses['loss_cls'].requires_grad
    # More pseudo boxes than expected never scale the loss up.
    many = InstanceData(bboxes=torch.zeros(9, 4) + torch.tensor([0., 0., 10., 10.]),
                        labels=torch.zeros(9).long(), scores=torch.ones(9), weights=torch.ones(9))
    losses = adapter.unsupervised_loss(student, torch.zeros(1, 3, 8, 8), [_sample(np.eye(3))],
                                       [many])
    assert losses['loss_cls'].item() == pytest.approx(1.0)
    with pytest.raises(KeyError, match=r"expected_count_norm names \['loss_bbox'\]"):
        DetectionAdapter(expected_count_norm=('loss_bbox', )).unsupervised_loss(
            student, torch.zeros(1, 3, 8, 8), [_sample(np.eye(3))], [pseudo])
    with pytest.raises(ValueError, match='count_momentum'):
        DetectionAdapter(count_momentum=1.0)


@pytest.mark.parametrize('override, match', [
    (dict(num_classes=2), r'predicts 2 classes but the training dataset has 3 '
                          r"\(classes: \['RBC', 'WBC', 'Platelets'\]\)"),
    (dict(batch_size=6), r'batch_size is 6 but its LabeledUnlabeledSampler makes batches '
                         r'of 4'),
])
def test_runs_that_would_train_on_something_else_stop_before_training(
        tmp_path, override, match):
    cfg = _semi_cfg(tmp_path)
    if 'num_classes' in override:
        cfg.model.model.bbox_head.num_classes = override['num_classes']
        cfg.model.threshold.num_classes = override['num_classes']
    else:
        cfg.train_dataloader.batch_size = override['batch_size']
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=match):
        runner.train()
    assert runner.iter == 0


def test_a_non_finite_pseudo_label_loss_becomes_zero_with_one_warning():
    """A NaN loss on pseudo labels must not reach the optimiser, but it must
    not vanish silently either: it is zeroed and named once."""
    from unittest.mock import patch

    class _NaNStudent(_RecordingStudent):
        def loss(self, inputs, data_samples):
            return dict(loss_cls=self.w * float('nan'), loss_bbox=self.w * 1.0)

    inst = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([0]),
                        scores=torch.tensor([0.9]), weights=torch.tensor([1.0]))
    student = _NaNStudent()
    with patch('ssl_dense.models.semi.adapter.print_log') as warn, \
            patch('ssl_dense.models.semi.adapter._WARNED_NON_FINITE', set()):
        for _ in range(2):
            losses = DetectionAdapter().unsupervised_loss(
                student, torch.zeros(1, 3, 8, 8), [_sample(np.eye(3))], [inst])
    assert losses['loss_cls'].item() == 0.0 and losses['loss_cls'].requires_grad
    assert losses['loss_bbox'].item() == 1.0
    assert warn.call_count == 1 and 'unsup loss_cls' in warn.call_args.args[0]
