"""Precise BN: statistics are the plain average over the given views, nothing
else in the model changes, and the hook leaves them in the checkpoint."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from ssl_dense.engine import PreciseBNHook
from ssl_dense.engine.hooks.precise_bn_hook import clean_views, recompute_bn_stats


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 4),
                         nn.BatchNorm1d(4))


def test_statistics_are_the_plain_average_of_the_views():
    net = _net()
    net.train()
    views = [torch.randn(8, 3) * 2 + 5 for _ in range(3)]
    weights = copy.deepcopy(net.state_dict())
    count = recompute_bn_stats(net, [(v,) for v in views], lambda x: net(x))
    assert count == 2
    # Means of every batch, averaged: not an exponential average.
    with torch.no_grad():
        first = torch.stack([net[0](v) for v in views])
    assert torch.allclose(net[1].running_mean, first.mean(1).mean(0), atol=1e-5)
    assert torch.allclose(net[1].running_var, first.var(1, unbiased=True).mean(0), atol=1e-4)
    # Dropout was off: the second BN saw the first BN's output unmasked.
    with torch.no_grad():
        second = torch.stack([net[3](torch.batch_norm(
            net[0](v), None, None, net[1].weight, net[1].bias, True, 0.0, 1e-5, False))
            for v in views])
    assert torch.allclose(net[4].running_mean, second.mean(1).mean(0), atol=1e-4)
    # Weights and training flags are as they were; momentum restored.
    for key, value in net.state_dict().items():
        if 'running' not in key and 'num_batches' not in key:
            assert torch.equal(value, weights[key]), key
    assert all(m.training for m in net.modules())
    assert net[1].momentum == 0.1


def test_a_batch_norm_no_view_reaches_keeps_its_statistics():
    net = _net()
    net[4].running_mean.fill_(7.0)
    count = recompute_bn_stats(net, [(torch.randn(4, 3),)], lambda x: net[:2](x))
    assert count == 1
    assert torch.all(net[4].running_mean == 7.0)
    assert not torch.all(net[1].running_mean == 0.0)


class _FrozenFirst(nn.Sequential):
    """Like a backbone with norm_eval=True: train() keeps the first BN in eval mode."""

    def train(self, mode=True):
        super().train(mode)
        self[1].eval()
        return self


def test_frozen_batch_norms_keep_their_statistics_and_an_error_loses_nothing():
    torch.manual_seed(0)
    net = _FrozenFirst(*_net())
    net[1].running_mean.fill_(7.0)
    count = recompute_bn_stats(net, [(torch.randn(4, 3),)], lambda x: net(x))
    assert count == 1
    assert torch.all(net[1].running_mean == 7.0)
    before = {k: v.clone() for k, v in net.state_dict().items()}

    def views():
        yield (torch.randn(4, 3),)
        raise OSError('image 17 is unreadable')

    with pytest.raises(OSError, match='image 17'):
        recompute_bn_stats(net, views(), lambda x: net(x))
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert net[4].momentum == 0.1


class _Views(BaseModel):
    def forward(self, inputs, data_samples=None, mode='tensor'):
        return inputs


def test_views_name_the_missing_branch_and_short_loaders_are_read_again():
    model = _Views()
    batches = [dict(inputs=dict(sup=torch.ones(2, 1), weak=torch.zeros(2, 1)))]
    got = list(clean_views(model, batches, 3, ['sup', 'weak']))
    assert len(got) == 6 and torch.equal(got[1][0], torch.zeros(2, 1))
    with pytest.raises(KeyError, match="no branches \\['strong'\\]"):
        list(clean_views(model, batches, 1, ['strong']))
    with pytest.raises(ValueError, match='need `branches`'):
        list(clean_views(model, batches, 1))
    with pytest.raises(ValueError, match='the data gave 0'):
        list(clean_views(model, [], 2))


@pytest.mark.parametrize('kwargs', [dict(num_batches=0), dict(interval=0),
                                    dict(members=['reviewer']), dict(members=[])])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        PreciseBNHook(**kwargs)


class _Member(BaseModel):
    """Linear + BN, called like an mmengine model."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 2), nn.BatchNorm1d(2))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.net(torch.stack(inputs) if isinstance(inputs, list) else inputs)


class ToyTeacherStudent(BaseModel):
    """Student pulled towards y = 3x; EMA teacher."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.student = _Member()
        self.teacher = copy.deepcopy(self.student).requires_grad_(False)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            x = torch.stack(inputs)
            return dict(loss=((self.student(x) - 3 * x) ** 2).mean())
        return self.teacher(inputs)


class _Data(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i)]))


def _runner(work_dir, hooks, max_iters=4):
    return Runner(
        model=ToyTeacherStudent(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_Data(), batch_size=4, num_workers=0,
                              sampler=dict(type='InfiniteSampler', shuffle=True)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters), custom_hooks=hooks,
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=max_iters,
                                           by_epoch=False)),
        randomness=dict(seed=0), experiment_name=f'pbn_{work_dir.name}',
        default_scope='ssl_dense')


def test_hook_saves_the_teachers_precise_statistics_and_leaves_training_alone(tmp_path):
    ema = dict(type='TeacherEMAHook', momentum=0.5)
    plain = _runner(tmp_path / 'plain', [copy.deepcopy(ema)])
    plain.train()
    precise = _runner(tmp_path / 'precise', [copy.deepcopy(ema), dict(
        type='PreciseBNHook', num_batches=2, members=['teacher'], interval=2,
        # A runner built without a config: the loader config is given here.
        dataloader=dict(batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler')))])
    precise.train()
    # The hook reads its own iterator: the student trained on the same batches.
    assert torch.equal(precise.model.student.net[0].weight, plain.model.student.net[0].weight)
    saved = torch.load(tmp_path / 'precise' / 'iter_4.pth', weights_only=False)['state_dict']
    teacher = precise.model.teacher
    # Two batches of four from the shuffled sampler cover the 8 values once.
    with torch.no_grad():
        out = teacher.net[0](torch.arange(8.0).unsqueeze(1))
    assert torch.allclose(saved['teacher.net.1.running_mean'], out.mean(0), atol=1e-5)
    assert not torch.allclose(saved['teacher.net.1.running_mean'],
                              saved['student.net.1.running_mean'], atol=1e-3)


def test_epoch_based_training_re_estimates_after_validating_epochs(tmp_path):
    runner = Runner(
        model=ToyTeacherStudent(), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=_Data(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=3, val_interval=2),
        custom_hooks=[dict(type='TeacherEMAHook', momentum=0.5), dict(
            type='PreciseBNHook', num_batches=2, members=['teacher'],
            dataloader=dict(batch_size=4, num_workers=0,
                            sampler=dict(type='DefaultSampler', shuffle=False)))],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        experiment_name='pbn_epochs', default_scope='ssl_dense')
    runner.train()
    log = open(next(tmp_path.glob('*/*.log'))).read()
    # Epoch 2 (val_interval) and epoch 3 (the last), not epoch 1.
    assert 'after epoch 2' in log and 'after epoch 3' in log and 'after epoch 1' not in log
    for epoch, precise in ((1, False), (3, True)):
        saved = torch.load(tmp_path / f'epoch_{epoch}.pth', weights_only=False)['state_dict']
        teacher = copy.deepcopy(runner.model.teacher)
        teacher.load_state_dict({k[len('teacher.'):]: v for k, v in saved.items()
                                 if k.startswith('teacher.')})
        with torch.no_grad():
            expected = teacher.net[0](torch.arange(8.0).unsqueeze(1)).mean(0)
        assert torch.allclose(saved['teacher.net.1.running_mean'], expected,
                              atol=1e-5) == precise
