"""Exponential moving average of a student's weights into a teacher.

The update, for every floating-point parameter ``t`` of the teacher and the
matching student parameter ``s``::

    t <- momentum * t + (1 - momentum) * s

``momentum`` is the *keep rate* of the teacher (0.999 keeps 99.9 % of the
teacher each step). mmdet's ``MeanTeacherHook`` uses the opposite convention
(its ``momentum=0.001`` is our ``momentum=0.999``).

All tensors are updated with one fused ``torch._foreach_lerp_`` call, which
reads and writes each tensor once, where a per-parameter ``mul_().add_()``
loop makes two passes over memory.
"""
from typing import List

import torch
import torch.nn as nn

__all__ = ['TeacherEMA', 'BUFFER_POLICIES']

#: What happens to buffers (e.g. batch-norm running statistics):
#: ``'skip'`` leaves the teacher's own, ``'copy'`` copies the student's,
#: ``'ema'`` averages floating-point buffers like parameters (integer buffers
#: such as ``num_batches_tracked`` are copied).
BUFFER_POLICIES = ('skip', 'copy', 'ema')


class TeacherEMA:
    """Keeps a teacher module an EMA of a student module with the same layout.

    The tensor lists are collected once, after checking that both modules
    have the same parameter and buffer names, shapes and dtypes.

    Args:
        teacher (nn.Module): Updated in place; its parameters should not
            require gradients.
        student (nn.Module): Read only.
        buffers (str): One of :data:`BUFFER_POLICIES`. Defaults to ``'copy'``.

    Examples:
        >>> import copy, torch.nn as nn
        >>> student = nn.Linear(2, 2)
        >>> teacher = copy.deepcopy(student).requires_grad_(False)
        >>> ema = TeacherEMA(teacher, student)
        >>> ema.update(momentum=0.99)
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, buffers: str = 'copy') -> None:
        if buffers not in BUFFER_POLICIES:
            raise ValueError(f'buffers must be one of {BUFFER_POLICIES}, got {buffers!r}')
        self.buffers = buffers
        t_params, s_params = _matched(teacher.named_parameters(), student.named_parameters(),
                                      'parameter')
        t_bufs, s_bufs = _matched(teacher.named_buffers(), student.named_buffers(), 'buffer')
        self._avg_t: List[torch.Tensor] = []
        self._avg_s: List[torch.Tensor] = []
        self._copy_t: List[torch.Tensor] = []
        self._copy_s: List[torch.Tensor] = []
        for t, s in zip(t_params, s_params):
            (self._avg_t if t.is_floating_point() else self._copy_t).append(t)
            (self._avg_s if t.is_floating_point() else self._copy_s).append(s)
        for t, s in zip(t_bufs, s_bufs):
            if buffers == 'ema' and t.is_floating_point():
                self._avg_t.append(t)
                self._avg_s.append(s)
            elif buffers in ('copy', 'ema'):
                self._copy_t.append(t)
                self._copy_s.append(s)
        self._all_t = t_params + t_bufs
        self._all_s = s_params + s_bufs

    @torch.no_grad()
    def update(self, momentum: float) -> None:
        """teacher <- momentum * teacher + (1 - momentum) * student.

        Args:
            momentum (float): Keep rate of the teacher, in [0, 1]. 0 copies
                the student, 1 leaves the teacher unchanged.
        """
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'momentum must be in [0, 1], got {momentum!r}')
        if self._avg_t:
            torch._foreach_lerp_(self._avg_t, self._avg_s, 1.0 - momentum)
        if self._copy_t:
            torch._foreach_copy_(self._copy_t, self._copy_s)

    @torch.no_grad()
    def copy_student(self) -> None:
        """Make the teacher an exact copy of the student (all buffers too)."""
        torch._foreach_copy_(self._all_t, self._all_s)


def _matched(teacher_items, student_items, kind: str):
    teacher_items, student_items = list(teacher_items), list(student_items)
    t_names = [n for n, _ in teacher_items]
    s_names = [n for n, _ in student_items]
    if t_names != s_names:
        missing = sorted(set(s_names) - set(t_names))[:5]
        extra = sorted(set(t_names) - set(s_names))[:5]
        raise ValueError(f'teacher and student {kind}s differ: in student only {missing}, '
                         f'in teacher only {extra}' if missing or extra else
                         f'teacher and student {kind}s are in a different order')
    for (name, t), (_, s) in zip(teacher_items, student_items):
        if t.shape != s.shape or t.dtype != s.dtype:
            raise ValueError(f'{kind} {name!r}: teacher {tuple(t.shape)} {t.dtype} vs '
                             f'student {tuple(s.shape)} {s.dtype}')
    return [t for _, t in teacher_items], [s for _, s in student_items]
