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
