"""TeacherEMAHook: schedules, burn-in, start and resume behaviour in a Runner."""
import copy
import math

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner

from ssl_dense.engine import TeacherEMAHook, momentum_at


@pytest.mark.parametrize('schedule, step, expected', [
    (dict(type='constant', value=0.99), 123, 0.99),
    (dict(type='linear', start=0.5, end=0.9996, steps=2000), 0, 0.5),
    (dict(type='linear', start=0.5, end=0.9996, steps=2000), 1000, 0.7498),
    (dict(type='linear', start=0.5, end=0.9996, steps=2000), 5000, 0.9996),
    (dict(type='cosine', start=0.99, end=1.0, steps=100), 0, 0.99),
    (dict(type='cosine', start=0.99, end=1.0, steps=100), 50, 0.995),
    (dict(type='cosine', start=0.99, end=1.0, steps=100), 100, 1.0),
])
def test_momentum_schedules(schedule, step, expected):
    assert momentum_at(schedule, step) == pytest.approx(expected)


@pytest.mark.parametrize('kwargs, error', [
    (dict(momentum=1.2), ValueError),
    (dict(momentum=dict(type='linear', start=0.5)), KeyError),
    (dict(momentum=dict(type='step', value=0.9)), ValueError),
    (dict(burn_in_iters=-1), ValueError),
    (dict(interval=0), ValueError),
    (dict(buffers='average'), ValueError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        TeacherEMAHook(**kwargs)


class ToyTeacherStudent(BaseModel):
    """Student: y = w x; the teacher follows by EMA. Loss pulls w towards 3."""

    def __init__(self):
        super().__init__()
        self.student = nn.Linear(1, 1, bias=False)
        self.student.weight.data.fill_(0.0)
        self.teacher = copy.deepcopy(self.student).requires_grad_(False)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs)
        if mode == 'loss':
            return dict(loss=((self.student(x) - 3 * x) ** 2).mean())
        return self.teacher(x)


class _Data(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.ones(1))


def _runner(work_dir, hook, max_iters=6, **kwargs):
    return Runner(
        model=ToyTeacherStudent(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_Data(), sampler=dict(type='InfiniteSampler'),
                              batch_size=1, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        custom_hooks=[hook], default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', interval=3, by_epoch=False)),
        experiment_name=f'ema_{work_dir.name}', default_scope='ssl_dense', **kwargs)


class _Recorder(Hook):
    """Record student and teacher weights after every iteration's EMA update."""

    priority = 'LOWEST'

    def __init__(self):
        self.students, self.teachers = [], []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.students.append(runner.model.student.weight.item())
        self.teachers.append(runner.model.teacher.weight.item())


class _AtStart(Hook):
    """Record the teacher when (resumed) training starts."""

    def before_train(self, runner):
        self.teacher = runner.model.teacher.weight.detach().clone()


def test_teacher_follows_student_with_burn_in(tmp_path):
    runner = _runner(tmp_path, TeacherEMAHook(momentum=0.5, burn_in_iters=2), max_iters=4)
    rec = _Recorder()
    runner.register_hook(rec)
    runner.train()
    s, t = rec.students, rec.teachers
    # Burn-in: the teacher copies the student.
    assert t[0] == s[0] and t[1] == s[1]
    # Then t <- 0.5 t + 0.5 s.
    assert t[2] == pytest.approx(0.5 * t[1] + 0.5 * s[2])
    assert t[3] == pytest.approx(0.5 * t[2] + 0.5 * s[3])
    assert s[3] != t[3]
    assert runner.message_hub.get_scalar('train/teacher_momentum').current() == 0.5


def test_resumed_teacher_is_bit_identical(tmp_path):
    straight = _runner(tmp_path / 'a', TeacherEMAHook(momentum=0.9), max_iters=6)
    straight.train()
    saved = torch.load(tmp_path / 'a' / 'iter_3.pth', weights_only=False)

    resumed = _runner(tmp_path / 'b', TeacherEMAHook(momentum=0.9), max_iters=6,
                      resume=True, load_from=str(tmp_path / 'a' / 'iter_3.pth'))
    probe = _AtStart()
    resumed.register_hook(probe)
    resumed.train()
    assert torch.equal(probe.teacher, saved['state_dict']['teacher.weight'])
    assert not torch.equal(probe.teacher, saved['state_dict']['student.weight'])
    assert torch.equal(resumed.model.teacher.weight, straight.model.teacher.weight)
    assert math.isfinite(resumed.model.teacher.weight.item())


def test_model_without_teacher_is_a_clear_error(tmp_path):
    runner = _runner(tmp_path, TeacherEMAHook())
    runner.model.teacher = None
    del runner.model.teacher
    with pytest.raises(TypeError, match='ToyTeacherStudent without `teacher`'):
        runner.train()


def test_unsup_weight_schedule():
    from ssl_dense.engine import UnsupWeightHook
    hook = UnsupWeightHook(weight=2.0, burn_in_iters=10, ramp_iters=4)
    assert [hook.weight_at(i) for i in (0, 9, 10, 11, 13, 100)] == [0, 0, 0.5, 1.0, 2.0, 2.0]
    assert UnsupWeightHook(weight=1.0).weight_at(0) == 1.0
    with pytest.raises(ValueError):
        UnsupWeightHook(weight=-1)


@pytest.mark.parametrize('copy_at_start', [True, False])
def test_copy_at_start_keeps_a_teacher_initialised_elsewhere(tmp_path, copy_at_start):
    runner = _runner(tmp_path, TeacherEMAHook(momentum=0.5, copy_at_start=copy_at_start),
                     max_iters=1)
    runner.model.teacher.weight.data.fill_(7.0)  # e.g. loaded from a baseline checkpoint
    rec = _Recorder()
    runner.register_hook(rec)
    runner.train()
    # One update t <- 0.5 t + 0.5 s, from 7 (kept) or from the student's 0 (copied).
    start = 0.0 if copy_at_start else 7.0
    assert rec.teachers[0] == pytest.approx(0.5 * start + 0.5 * rec.students[0])
