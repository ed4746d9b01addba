"""Semi-supervised segmentation end to end: TeacherStudent around an mmseg
EncoderDecoder on real CamVid images (the 6-image fixture)."""
import glob
import json
import os.path as osp
import re

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from tests.conftest import REPO_ROOT, load_script

SEMI_SEG = 'configs/mean_teacher_seg/mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py'


def _cfg(tmp_path, max_iters=3, config=SEMI_SEG):
    splits = tmp_path / 'splits'
    load_script('tools/split_dataset.py').main([f'{REPO_ROOT}/tests/data/camvid/train',
                                               '--count', '2', '--out-dir', str(splits)])
    cfg = Config.fromfile(f'{REPO_ROOT}/{config}')
    cfg.work_dir = str(tmp_path / 'work')
    data = cfg.train_dataloader.dataset
    for part, name in ((data.labeled, 'labeled'), (data.unlabeled, 'unlabeled')):
        part.data_root = f'{REPO_ROOT}/tests/data/camvid'
        part.ann_file = str(splits / f'train.2img.seed1.{name}.txt')
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.sampler = dict(type='LabeledUnlabeledSampler', batch_size=4,
                                        num_labeled=2)
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.val_dataloader.dataset.data_root = f'{REPO_ROOT}/tests/data/camvid'
    cfg.val_dataloader.num_workers = 0
    cfg.val_dataloader.persistent_workers = False
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    cfg.param_scheduler = []
    cfg.custom_hooks = [dict(type='TeacherEMAHook', burn_in_iters=1, momentum=0.9),
                        dict(type='UnsupWeightHook', burn_in_iters=1),
                        dict(type='DatasetMetaHook')]
    # An untrained teacher is not confident: start the thresholds at 0 so
    # that pixels pass.
    if cfg.model.threshold.type == 'FixedThreshold':
        cfg.model.threshold = dict(type='FixedThreshold', thr=0.0)
    elif 'base_thr' in cfg.model.threshold:  # the budget: every pixel
        cfg.model.threshold.update(base_thr=0.0, min_thr=0.0)
    elif 'init_thr' in cfg.model.threshold:
        cfg.model.threshold.init_thr = 0.0
        if 'min_thr' in cfg.model.threshold:
            cfg.model.threshold.min_thr = 0.0
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=max_iters)
    cfg.experiment_name = f'semi_seg_{tmp_path.name}'
    return cfg


def test_semi_segmentation_trains_on_pseudo_labels_and_validates_both(tmp_path):
    runner = Runner.from_cfg(_cfg(tmp_path))
    runner.train()
    hub = runner.message_hub
    unsup = hub.get_scalar('train/unsup_decode.loss_ce').current()
    assert np.isfinite(unsup) and unsup > 0
    # Threshold 0: every pixel of the two unlabelled 128x128 strong views
    # inside the image gets a pseudo label, counted per class.
    counts = [hub.get_scalar(k).current() for k in hub.log_scalars
              if k.startswith('train/pl_num_')]
    assert len(counts) == 11 and 0 < sum(counts) <= 2 * 128 * 128
    assert 'train/thr_Sky' in hub.log_scalars
    for prefix in ('teacher/', 'student/', ''):
        assert 0.0 <= hub.get_scalar(f'val/{prefix}mIoU').current() <= 100.0


def test_cutmix_and_feature_perturbation_branch(tmp_path):
    cfg = _cfg(tmp_path, max_iters=2)
    cfg.model.strong_batch_augments = [dict(type='SegCutMix', prob=1.0)]
    cfg.model.adapter = dict(type='SegmentationAdapter',
                             feature_perturbation=dict(p=0.5, weight=0.5))
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    fp = hub.get_scalar('train/unsup_fp_decode.loss_ce').current()
    assert np.isfinite(fp) and fp > 0
    assert np.isfinite(hub.get_scalar('train/unsup_decode.loss_ce').current())


@pytest.mark.parametrize('config', sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(f'{REPO_ROOT}/configs/mean_teacher_seg/*semi-1-8-camvid.py')
    if osp.relpath(p, REPO_ROOT) != SEMI_SEG))
def test_every_camvid_semi_config_trains_past_burn_in(tmp_path, config):
    # Each shipped variant (threshold policy, CutMix, feature perturbation,
    # class-balanced pixel weights) computes its unsupervised loss on real
    # images (thresholds start at 0 here, see _cfg, so that every branch of
    # the loss runs). The plain config is trained by the first test; the 1/4
    # configs differ from their 1/8 twins only in the split files.
    cfg = _cfg(tmp_path, max_iters=2, config=config)
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    unsup = hub.get_scalar('train/unsup_decode.loss_ce').current()
    assert np.isfinite(unsup) and unsup > 0, config
    # The pixel sampler is only lent to the heads for the pseudo-label loss.
    assert getattr(runner.model.student.decode_head, 'sampler', None) is None


def test_segmentor_with_auxiliary_head_learns_pseudo_labels_in_both_heads(tmp_path):
    """An EncoderDecoder with an auxiliary head (as PSPNet / UPerNet configs
    have): both heads get the pseudo-label loss, both use the pseudo pixel
    sampler for it and get their own back."""
    cfg = _cfg(tmp_path, max_iters=2)
    cfg.model.model.auxiliary_head = dict(
        type='FCNHead', in_channels=64, in_index=2, channels=32, num_convs=1,
        concat_input=False, dropout_ratio=0.1, num_classes=11, ignore_index=11,
        norm_cfg=dict(type='BN', requires_grad=True), align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4))
    cfg.model.adapter = dict(type='SegmentationAdapter',
                             pseudo_pixel_sampler=dict(type='ClassBalancedPixelSampler'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    for key in ('unsup_decode.loss_ce', 'unsup_aux.loss_ce', 'sup_aux.loss_ce'):
        value = hub.get_scalar(f'train/{key}').current()
        assert np.isfinite(value) and value > 0, key
    student = runner.model.student
    assert student.decode_head.sampler is None and student.auxiliary_head.sampler is None


def _bn_stats(module):
    return {k: v.clone() for k, v in module.state_dict().items()
            if k.endswith(('running_mean', 'running_var'))}


def test_unlabeled_views_leave_bn_running_stats_alone(tmp_path):
    import copy

    import torch
    runner = Runner.from_cfg(_cfg(tmp_path))
    model = runner.model
    assert model.unsup_bn_stats is False  # what the CamVid semi configs train with
    data = model.data_preprocessor(next(iter(runner.train_dataloader)), True)
    model.train()
    model.unsup_weight = 1.0
    reference = copy.deepcopy(model.student)
    reference.loss(data['inputs']['sup'], data['data_samples']['sup'])
    mixed = copy.deepcopy(model)
    mixed.unsup_bn_stats = True
    losses = model.loss(data['inputs'], data['data_samples'])
    assert 'unsup_decode.loss_ce' in losses
    # Only the labeled forward moved the statistics ...
    expected, got = _bn_stats(reference), _bn_stats(model.student)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    # ... and the momentum of every norm is back for the next labeled batch.
    norms = [m for m in model.student.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.momentum > 0 for m in norms)
    # With unsup_bn_stats=True the strong view moves them too.
    mixed.loss(data['inputs'], data['data_samples'])
    moved = _bn_stats(mixed.student)
    assert any(not torch.equal(expected[k], moved[k]) for k in expected)


def test_recalibrate_bn_tool_validates_before_and_after(tmp_path):
    import torch
    cfg = _cfg(tmp_path, max_iters=2)
    cfg.model.unsup_bn_stats = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    config = tmp_path / 'cfg.py'
    cfg.dump(str(config))
    saved = torch.load(tmp_path / 'work' / 'iter_2.pth', map_location='cpu',
                       weights_only=False)['state_dict']
    out = tmp_path / 'recal.pth'
    results = load_script('tools/analysis/recalibrate_bn.py').main(
        [str(config), str(tmp_path / 'work' / 'iter_2.pth'), '--batches', '2',
         '--out', str(out), '--work-dir', str(tmp_path / 'recal'),
         '--json', str(tmp_path / 'recal.json')])
    assert set(results) == {'before', 'after'}
    written = json.loads((tmp_path / 'recal.json').read_text())
    assert written['after']['mIoU'] == pytest.approx(float(results['after']['mIoU']))
    assert 0.0 <= results['after']['mIoU'] <= 100.0
    state = torch.load(out, map_location='cpu', weights_only=False)['state_dict']
    keys = [k for k in state if k.startswith('teacher.') and k.endswith('running_var')]
    assert any('decode_head' in k for k in keys)
    # New statistics in every batch norm, the decode head's included (none
    # left at the reset value of 1), each member's for its own weights.
    for key in keys:
        assert not torch.equal(state[key], saved[key]), key
        assert not torch.all(state[key] == 1.0), key
    assert any(not torch.equal(state[k], state[k.replace('teacher.', 'student.', 1)])
               for k in keys)


@pytest.mark.parametrize('config', sorted(
    glob.glob(f'{REPO_ROOT}/configs/mean_teacher_seg/*.py') +
    glob.glob(f'{REPO_ROOT}/configs/fpn/*-1-*.py')))
def test_camvid_configs_train_on_the_split_their_name_gives(config):
    cfg = Config.fromfile(config)
    dataset = cfg.train_dataloader.dataset
    split = re.search(r'1-[48]', osp.basename(config)).group()  # '1-8' or '1-4'
    files = ([dataset.labeled.ann_file, dataset.unlabeled.ann_file]
             if dataset.type == 'ssl_dense.SemiDataset' else [dataset.ann_file])
    for name in files:
        assert name.startswith(f'splits/train.{split}.seed1.'), (config, name)


def test_nohue_config_changes_only_the_strong_colour_noise():
    """The probe config keeps colours' identity on the strong view (no hue
    shift, no grey) and nothing else: same shared geometry, weak view, model."""
    base = Config.fromfile(f'{REPO_ROOT}/{SEMI_SEG}')
    probe = Config.fromfile(
        f'{REPO_ROOT}/{SEMI_SEG}'.replace('mean-teacher_', 'mean-teacher-nohue_'))
    views = [c.train_dataloader.dataset.unlabeled.pipeline[1] for c in (base, probe)]
    assert views[0]['shared'] == views[1]['shared']
    assert views[0]['views']['unsup_weak'] == views[1]['views']['unsup_weak']
    transforms = views[1]['views']['unsup_strong'][0]['transforms']
    assert [t['type'] for t in transforms] == ['ColorJitter', 'GaussianBlur']
    assert transforms[0]['hue'] == 0.0
    assert base.model == probe.model


def test_pseudo_label_quality_on_the_strong_training_views(tmp_path):
    """tools/analysis/seg_pseudo_label_quality.py --train-views: the pseudo
    labels made as in training, moved to the strong views, against their
    truth. Threshold 0 keeps every pixel, so kept and all agree."""
    cfg = _cfg(tmp_path, max_iters=1)
    Runner.from_cfg(cfg).train()
    cfg.dump(str(tmp_path / 'semi.py'))
    tool = load_script('tools/analysis/seg_pseudo_label_quality.py')
    text = tool.main([str(tmp_path / 'semi.py'), str(tmp_path / 'work' / 'iter_1.pth'),
                      '--train-views', '2'])
    first = text.splitlines()[0]
    assert first.startswith('strong training views, 2 images, FixedThreshold(num_classes=11, '
                            'thr=0.0)')
    assert ': 1.000 of the labeled pixels kept' in first
    kept, every = tool.train_view_confusion(*_train_view_model(tmp_path, tool, cfg))
    assert kept.equal(every) and 0 < every.sum() <= 2 * 128 * 128
    # A plain segmentor config has no teacher to make pseudo labels.
    with pytest.raises(TypeError, match='needs a TeacherStudent config'):
        tool.main([f'{REPO_ROOT}/configs/fpn/fpn_effl0_1xb8-2k_camvid-1-8.py',
                   str(tmp_path / 'work' / 'iter_1.pth'), '--train-views', '1'])


def _train_view_model(tmp_path, tool, cfg):
    from mmengine.runner import load_checkpoint

    from ssl_dense.registry import MODELS
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(tmp_path / 'work' / 'iter_1.pth'), map_location='cpu')
    dataset, meta = tool.train_view_dataset(cfg, 2, seed=0)
    return model.eval(), dataset, len(meta['classes'])


def test_oracle_labels_reach_the_strong_view_exactly(tmp_path):
    """The oracle diagnostic's labels (the unlabelled images' truth) go
    through the same transfer as pseudo labels and land on the strong view
    pixel for pixel (void stays unlabelled), so an oracle run measures the
    unlabelled path itself; a sample without a label map is named."""
    import torch
    from mmengine.structures import PixelData
    cfg = _cfg(tmp_path, config='configs/mean_teacher_seg/oracle_fpn_effl0_1xb16-2k_semi-1-8-'
                                'camvid.py')
    runner = Runner.from_cfg(cfg)
    model = runner.model
    batch = model.data_preprocessor(next(iter(runner.train_dataloader)), True)
    weak, strong = (model.branches[k] for k in ('weak', 'strong'))
    inputs, samples = batch['inputs'], batch['data_samples']
    pseudo = model.adapter.pseudo_labels(model.teacher, inputs[weak], samples[weak],
                                         model.threshold)
    moved = model.adapter.transfer(pseudo, samples[weak], samples[strong])
    compared = 0
    for inst, sample in zip(moved, samples[strong]):
        truth = sample.gt_sem_seg.data[0]
        h, w = truth.shape
        expected = torch.where(truth < 11, truth, -1)
        assert torch.equal(inst.labels[0, :h, :w], expected)
        compared += int((expected >= 0).sum())
    assert compared > 1000
    bare = samples[weak][0].clone()
    del bare.gt_sem_seg
    with pytest.raises(KeyError, match=r'\.jpg has no label map: OracleSegmentationAdapter'):
        model.adapter.pseudo_labels(model.teacher, inputs[weak][:1], [bare], model.threshold)
    assert isinstance(moved[0], PixelData)
