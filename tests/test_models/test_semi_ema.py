"""TeacherEMA: the update formula, buffer policies and layout checks."""
import copy

import pytest
import torch
import torch.nn as nn

from ssl_dense.models.semi import TeacherEMA


def _pair():
    torch.manual_seed(0)
    student = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))
    teacher = copy.deepcopy(student).requires_grad_(False)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
        student[1].running_mean.fill_(2.0)
        student[1].num_batches_tracked.fill_(7)
    return teacher, student


def test_update_formula_golden_values():
    teacher = nn.Linear(1, 1, bias=False).requires_grad_(False)
    student = nn.Linear(1, 1, bias=False)
    teacher.weight.data.fill_(1.0)
    student.weight.data.fill_(3.0)
    ema = TeacherEMA(teacher, student)
    ema.update(0.9)  # 0.9 * 1 + 0.1 * 3
    assert teacher.weight.item() == pytest.approx(1.2)
    ema.update(0.5)  # 0.5 * 1.2 + 0.5 * 3
    assert teacher.weight.item() == pytest.approx(2.1)
    assert student.weight.item() == 3.0


def test_matches_per_parameter_reference():
    teacher, student = _pair()
    expected = {k: 0.99 * v + 0.01 * student.state_dict()[k]
                for k, v in teacher.state_dict().items() if v.is_floating_point()}
    TeacherEMA(teacher, student, buffers='ema').update(0.99)
    for key, value in expected.items():
        torch.testing.assert_close(teacher.state_dict()[key], value)
    assert teacher[1].num_batches_tracked.item() == 7  # integers are copied


@pytest.mark.parametrize('policy, mean, count', [('skip', 0.0, 0), ('copy', 2.0, 7),
                                                 ('ema', 0.02, 7)])
def test_buffer_policies(policy, mean, count):
    teacher, student = _pair()
    TeacherEMA(teacher, student, buffers=policy).update(0.99)
    assert teacher[1].running_mean[0].item() == pytest.approx(mean)
    assert teacher[1].num_batches_tracked.item() == count


def test_copy_student_and_bounds():
    teacher, student = _pair()
    ema = TeacherEMA(teacher, student)
    ema.copy_student()
    for (k, t), (_, s) in zip(teacher.state_dict().items(), student.state_dict().items()):
        assert torch.equal(t, s), k
    with pytest.raises(ValueError, match='momentum must be in'):
        ema.update(1.5)


def test_mismatched_layouts_are_named():
    with pytest.raises(ValueError, match=r"in student only \['1.bias', '1.weight'\]"):
        TeacherEMA(nn.Sequential(nn.Linear(2, 2)), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="parameter '0.weight'"):
        TeacherEMA(nn.Sequential(nn.Linear(2, 3)), nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match='buffers must be one of'):
        TeacherEMA(nn.Linear(2, 2), nn.Linear(2, 2), buffers='average')


@pytest.mark.parametrize('buffers', ['skip', 'copy', 'ema'])
def test_flat_buffers_give_the_same_teacher(buffers):
    """flat=True: one lerp_ over contiguous buffers, bit for bit the per-tensor result."""
    teacher, student = _pair()
    ref_teacher, ref_student = copy.deepcopy(teacher), copy.deepcopy(student)
    params = list(student.parameters())
    flat = TeacherEMA(teacher, student, buffers=buffers, flat=True)
    ref = TeacherEMA(ref_teacher, ref_student, buffers=buffers)
    # The student keeps its parameter objects and values; their storage is shared now.
    assert [p is q for p, q in zip(params, student.parameters())] == [True] * len(params)
    for p, q in zip(student.parameters(), ref_student.parameters()):
        assert torch.equal(p, q)
    storages = {p.untyped_storage().data_ptr() for p in student.parameters()}
    assert len(storages) == 1
    for step, m in enumerate((0.5, 0.9, 0.99)):
        with torch.no_grad():  # the optimizer changes the student in place
            for p, q in zip(student.parameters(), ref_student.parameters()):
                p.add_(0.1 * (step + 1))
                q.add_(0.1 * (step + 1))
        flat.update(m)
        ref.update(m)
        for (k, t), (_, r) in zip(teacher.state_dict().items(), ref_teacher.state_dict().items()):
            assert torch.equal(t, r), (k, step)


def test_flat_buffers_survive_an_optimizer_and_new_storage():
    teacher, student = _pair()
    ema = TeacherEMA(teacher, student, flat=True)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    student(torch.rand(1, 3, 5, 5)).sum().backward()
    optimizer.step()  # updates the views, so the flat buffer sees the new values
    expected = [0.5 * t + 0.5 * s for t, s in zip(teacher.parameters(), student.parameters())]
    ema.update(0.5)
    for t, e in zip(teacher.parameters(), expected):
        torch.testing.assert_close(t, e)
    # New storage for one parameter (as model.to(device) would give): rebuilt, still right.
    student[0].weight.data = student[0].weight.data.clone()
    expected = [0.5 * t + 0.5 * s for t, s in zip(teacher.parameters(), student.parameters())]
    with pytest.warns(UserWarning, match='rebuilding'):
        ema.update(0.5)
    for t, e in zip(teacher.parameters(), expected):
        torch.testing.assert_close(t, e)
