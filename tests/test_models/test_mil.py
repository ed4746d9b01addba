"""MIL bag models, AEM, MHIM and the bag metric."""
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.structures import BaseDataElement

from ssl_dense.evaluation import bag_metrics, binary_auc
from ssl_dense.models.mil import (ABMIL, DSMIL, AttentionEntropyLoss, BagClassifier,
                                  MHIMBagClassifier, NystromAttention, TransMIL)


@pytest.mark.parametrize('cls, kwargs', [(ABMIL, {}), (ABMIL, dict(gated=True)), (DSMIL, {}),
                                         (TransMIL, dict(num_landmarks=4))])
@pytest.mark.parametrize('n', [1, 7, 33])
def test_aggregators_return_logits_embedding_attention(cls, kwargs, n):
    torch.manual_seed(0)
    model = cls(in_channels=12, num_classes=2, **kwargs).eval()
    out = model(torch.randn(n, 12))
    assert out['logits'].shape == (2, ) and out['attention'].shape == (n, )
    assert out['embedding'].dim() == 1
    assert all(torch.isfinite(v).all() for v in out.values())
    # Permuting the instances of a bag permutes the attention (ABMIL, DSMIL
    # are permutation invariant in their logits).
    if cls is not TransMIL:
        perm = torch.randperm(n)
        x = torch.randn(n, 12)
        a, b = model(x), model(x[perm])
        assert torch.allclose(a['logits'], b['logits'], atol=1e-5)
        assert torch.allclose(a['attention'][perm], b['attention'], atol=1e-5)


def test_aggregator_rejects_wrong_feature_size_and_empty_bag():
    model = ABMIL(in_channels=12)
    with pytest.raises(ValueError, match='in_channels=12, but the bag has 5 features'):
        model(torch.randn(3, 5))
    with pytest.raises(ValueError, match='0 instances'):
        model(torch.randn(0, 12))
    # The classifier names the bag.
    clf = BagClassifier(dict(type='ABMIL', in_channels=12))
    sample = BaseDataElement(metainfo=dict(bag_id='slide_42'))
    sample.gt_label = torch.tensor(1)
    with pytest.raises(ValueError, match='bag slide_42: .*in_channels=12'):
        clf([torch.randn(3, 5)], [sample], mode='loss')


def test_nystrom_attention_is_exact_for_short_and_close_for_long_sequences():
    torch.manual_seed(0)
    attn = NystromAttention(16, num_heads=2, num_landmarks=8).eval()
    x = torch.randn(8, 16)
    q, k, v = attn.qkv(x).view(8, 3, 2, -1).permute(1, 2, 0, 3)
    exact = torch.softmax(q * attn.scale @ k.transpose(-1, -2), -1) @ v
    exact = attn.out(exact.transpose(0, 1).reshape(8, 16))
    assert torch.allclose(attn(x), exact, atol=1e-5)
    # Long, smooth sequence (neighbouring tokens alike): the landmark
    # approximation stays close to exact attention.
    long = torch.randn(4, 16).repeat_interleave(64, dim=0) + 0.01 * torch.randn(256, 16)
    attn.num_landmarks = 256
    ref = attn(long)
    attn.num_landmarks = 16
    assert torch.allclose(attn(long), ref, atol=1e-3)


def test_aem_is_negative_entropy():
    aem = AttentionEntropyLoss(loss_weight=0.1)
    # Uniform attention over n instances: -lambda * log(n), the minimum.
    assert aem(torch.zeros(10)).item() == pytest.approx(-0.1 * math.log(10))
    peaked = aem(torch.tensor([10.0, 0.0, 0.0]))
    assert peaked.item() > aem(torch.zeros(3)).item()
    a = torch.tensor([3.0, 0.0, -1.0], requires_grad=True)
    aem(a).backward()
    assert a.grad[0] > 0 > a.grad[2]  # descent lowers the peak and raises the trough


def _samples(labels, ids=None):
    out = []
    for i, label in enumerate(labels):
        s = BaseDataElement(metainfo=dict(bag_id=ids[i] if ids else f'b{i}'))
        s.gt_label = torch.tensor(label)
        out.append(s)
    return out


def test_bag_classifier_loss_and_predict_with_aem():
    torch.manual_seed(0)
    clf = BagClassifier(dict(type='ABMIL', in_channels=6), aem=dict(type='AttentionEntropyLoss'))
    bags = [torch.randn(4, 6), torch.randn(9, 6)]
    losses = clf(bags, _samples([0, 1]), mode='loss')
    assert set(losses) == {'loss_cls', 'loss_aem'} and losses['loss_aem'].item() < 0
    preds = clf(bags, _samples([0, 1]), mode='predict')
    assert preds[1].pred_score.shape == (2, ) and preds[1].attention.shape == (9, )
    assert preds[0].pred_score.sum().item() == pytest.approx(1.0)


def test_mhim_masks_the_teachers_top_attention():
    mhim = MHIMBagClassifier(dict(type='ABMIL', in_channels=6), mask_ratio_h=0.2,
                             mask_ratio_hr=1.0)
    attention = torch.arange(10.0)  # instance 9 has the highest attention
    keep = mhim.keep_mask(attention)
    assert keep.tolist() == [True] * 8 + [False, False]
    mhim = MHIMBagClassifier(dict(type='ABMIL', in_channels=6), mask_ratio_h=0.2,
                             mask_ratio_hr=0.5, mask_ratio_l=0.1, mask_ratio=0.3)
    torch.manual_seed(0)
    keep = mhim.keep_mask(attention)
    assert int((~keep).sum()) == 2 + 1 + 3
    assert not keep[0]  # the lowest attention is masked
    assert int((~keep[6:]).sum()) >= 2  # two of the top four
    # One instance is always left for the student.
    mhim = MHIMBagClassifier(dict(type='ABMIL', in_channels=6), mask_ratio_h=0.9,
                             mask_ratio_hr=1.0, mask_ratio=0.9)
    assert mhim.keep_mask(torch.arange(3.0)).sum() == 1
    with pytest.raises(ValueError, match='mask_ratio_hr'):
        MHIMBagClassifier(dict(type='ABMIL', in_channels=6), mask_ratio_hr=0)


def test_mhim_cosine_decay_of_high_mask_ratio():
    from mmengine.logging import MessageHub
    mhim = MHIMBagClassifier(dict(type='ABMIL', in_channels=6), mask_ratio_h=0.4,
                             mask_ratio_h_decay='cosine')
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 100)
    hub.update_info('iter', 0)
    assert mhim.current_mask_ratio_h() == pytest.approx(0.4)
    hub.update_info('iter', 50)
    assert mhim.current_mask_ratio_h() == pytest.approx(0.2)
    hub.update_info('iter', 100)
    assert mhim.current_mask_ratio_h() == pytest.approx(0.0)


def test_mhim_loss_has_consistency_and_no_teacher_gradient():
    torch.manual_seed(0)
    mhim = MHIMBagClassifier(dict(type='ABMIL', in_channels=6), mask_ratio_h=0.3,
                             consistency_weight=0.5, aem=dict(type='AttentionEntropyLoss'))
    mhim.train()
    assert not mhim.teacher.training
    losses = mhim([torch.randn(10, 6), torch.randn(5, 6)], _samples([1, 0]), mode='loss')
    assert set(losses) == {'loss_cls', 'loss_consistency', 'loss_aem'}
    sum(losses.values()).backward()
    assert all(p.grad is None for p in mhim.teacher.parameters())
    assert any(p.grad is not None for p in mhim.student.parameters())


def _mil_cfg(tmp_path, config='configs/mil/abmil_musk1-10fold.py', epochs=1):
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.fold = 0
    return cfg


def test_mhim_config_trains_with_the_core_ema_hook(tmp_path):
    cfg = _mil_cfg(tmp_path, 'configs/mil/abmil-mhim_musk1-10fold.py')
    runner = Runner.from_cfg(cfg)
    teacher_before = {k: v.clone() for k, v in runner.model.teacher.state_dict().items()}
    runner.train()
    hub = runner.message_hub
    assert hub.get_scalar('train/teacher_momentum').current() > 0.99
    assert np.isfinite(hub.get_scalar('train/loss_consistency').current())
    # The EMA moved the teacher, a little.
    moved = [not torch.equal(teacher_before[k], v)
             for k, v in runner.model.teacher.state_dict().items()]
    assert any(moved)


def test_mhim_teacher_init_from_a_baseline_checkpoint(tmp_path):
    cfg = _mil_cfg(tmp_path / 'base')
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = str(tmp_path / 'base' / 'epoch_1.pth')
    base = {k: v for k, v in runner.model.aggregator.state_dict().items()}
    mhim = MHIMBagClassifier(dict(type='ABMIL', in_channels=166), teacher_init=ckpt)
    for k, v in mhim.teacher.state_dict().items():
        assert torch.equal(v, base[k])
    assert not torch.equal(mhim.student.state_dict()['classifier.weight'],
                           base['classifier.weight'])
    # A hook that would reset the loaded teacher to the student refuses.
    cfg = _mil_cfg(tmp_path / 'mhim', 'configs/mil/dsmil-mhim-init_musk1-10fold.py')
    cfg.model.aggregator = dict(type='ABMIL', in_channels=166)
    cfg.model.teacher_init = ckpt
    cfg.custom_hooks = [dict(type='TeacherEMAHook', momentum=0.9999)]
    with pytest.raises(ValueError, match='teacher starts from .*set copy_at_start=False'):
        Runner.from_cfg(cfg).train()
    with pytest.raises(KeyError, match='no aggregator'):
        torch.save(dict(state_dict={'x': torch.zeros(1)}), tmp_path / 'bad.pth')
        MHIMBagClassifier(dict(type='ABMIL', in_channels=166),
                          teacher_init=str(tmp_path / 'bad.pth'))


def test_binary_auc_and_metrics_golden_values():
    assert binary_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert binary_auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5
    assert math.isnan(binary_auc(np.array([0.5, 0.6]), np.array([1, 1])))
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.4, 0.6]])
    labels = np.array([0, 1, 1, 1, 0])
    m = bag_metrics(probs, labels)
    assert m['accuracy'] == pytest.approx(3 / 5)
    assert m['balanced_accuracy'] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m['f1'] == pytest.approx(2 * 2 / (3 + 3))  # tp 2, predicted 3, actual 3
    assert m['auc'] == pytest.approx(binary_auc(probs[:, 1], labels == 1))
    true_prob = np.array([0.9, 0.8, 0.4, 0.7, 0.4])
    assert m['nll'] == pytest.approx(-np.log(true_prob).mean())
    # Three classes, a fold that holds two, predicted perfectly: F1 is 1, not
    # dragged down by the class that occurs nowhere.
    perfect = bag_metrics(np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]), np.array([0, 1]))
    assert perfect['f1'] == perfect['accuracy'] == perfect['balanced_accuracy'] == 1.0
    # A confidently wrong bag costs a large but finite NLL.
    assert bag_metrics(np.array([[1.0, 0.0]]), np.array([1]))['nll'] == pytest.approx(
        -np.log(1e-7))


def test_test_tool_reports_folds_and_mean_std(tmp_path, capsys):
    from tests.conftest import load_script
    for fold in (0, 1):
        cfg = _mil_cfg(tmp_path / f'fold{fold}')
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[key].dataset.fold = fold
        Runner.from_cfg(cfg).train()
    tool = load_script('tools/test.py')
    pattern = str(tmp_path / 'fold{fold}' / 'epoch_1.pth')
    out = tool.main(['configs/mil/abmil_musk1-10fold.py', pattern, '--folds', '2',
                     '--work-dir', str(tmp_path / 'test'), '--out', str(tmp_path / 'preds.pkl')])
    assert len(out['folds']) == 2
    # One prediction file per fold, each with that fold's test bags.
    import pickle
    for fold in (0, 1):
        with open(tmp_path / f'preds_fold{fold}.pkl', 'rb') as f:
            dumped = pickle.load(f)
        with open(f'data/mil/splits/musk1/seed1/fold{fold}.csv') as f:
            test_bags = sum(line.rstrip().endswith(',test') for line in f)
        assert len(dumped) == test_bags
    accs = [f['bag/accuracy'] for f in out['folds']]
    assert out['mean']['bag/accuracy'] == pytest.approx(np.mean(accs))
    assert out['std']['bag/accuracy'] == pytest.approx(np.std(accs, ddof=1))
    printed = capsys.readouterr().out
    assert 'fold 1: bag/accuracy' in printed and 'mean +- std: bag/accuracy' in printed


@pytest.mark.parametrize('config', sorted(__import__('glob').glob('configs/mil/*.py')))
def test_every_mil_config_builds_and_takes_a_step(config):
    from ssl_dense.registry import DATASETS, MODELS
    cfg = Config.fromfile(config)
    cfg.train_dataloader.dataset.fold = 0
    if cfg.model.get('teacher_init'):
        cfg.model.teacher_init = None  # a baseline's checkpoint: see the --fold test below
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    model = MODELS.build(cfg.model)
    model.train()
    items = [dataset[0], dataset[1]]
    losses = model([i['inputs'] for i in items], [i['data_samples'] for i in items], mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()


def test_mhim_teacher_starts_from_the_baseline_of_the_same_fold_from_the_cli(tmp_path):
    """tools/train.py --fold K fills {fold} in model.teacher_init: the MHIM
    teacher of fold 1 starts from the DSMIL checkpoint of fold 1."""
    from tests.conftest import load_script
    train = load_script('tools/train.py')
    short = ['--cfg-options', 'train_cfg.max_epochs=1']
    train.main(['configs/mil/dsmil_musk1-10fold.py', '--fold', '1',
                '--work-dir', str(tmp_path / 'dsmil' / 'fold1')] + short)
    baseline = tmp_path / 'dsmil' / 'fold1' / 'epoch_1.pth'
    argv = ['configs/mil/dsmil-mhim-init_musk1-10fold.py', '--fold', '1',
            '--work-dir', str(tmp_path / 'mhim'), '--cfg-options',
            f'model.teacher_init={tmp_path}/dsmil/fold{{fold}}/epoch_1.pth',
            'train_cfg.max_epochs=1']
    args = train.parse_args(argv)
    cfg = train.build_config(args)
    assert cfg.model.teacher_init == str(baseline)
    assert cfg.train_dataloader.dataset.fold == 1
    from ssl_dense.registry import MODELS
    model = MODELS.build(cfg.model)
    from mmengine.runner.checkpoint import _load_checkpoint
    weights = _load_checkpoint(str(baseline), map_location='cpu')['state_dict']
    for name, value in model.teacher.state_dict().items():
        assert torch.equal(value, weights[f'aggregator.{name}']), name
    # Trained, the MHIM checkpoint holds its teacher: tools/test.py needs no
    # baseline checkpoint any more.
    train.main(argv)
    baseline.unlink()
    test = load_script('tools/test.py')
    metrics = test.main(['configs/mil/dsmil-mhim-init_musk1-10fold.py',
                         str(tmp_path / 'mhim' / 'epoch_1.pth'), '--fold', '1',
                         '--work-dir', str(tmp_path / 'mhim_test')])
    assert 0.0 <= metrics['bag/accuracy'] <= 1.0
