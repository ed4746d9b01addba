"""Exponential moving average of a student's weights into a teacher.

The update, for every floating-point parameter ``t`` of the teacher and the
matching student parameter ``s``::

    t <- momentum * t + (1 - momentum) * s

``momentum`` is the *keep rate* of the teacher (0.999 keeps 99.9 % of the
teacher each step). mmdet's ``MeanTeacherHook`` uses the opposite convention
(its ``momentum=0.001`` is our ``momentum=0.999``).

All tensors are updated with one fused ``torch._foreach_lerp_`` call, which
reads and writes each tensor once, where a per-parameter ``mul_().add_()``
loop makes two passes over memory. With ``flat=True`` the parameters of the
teacher and of the student are moved into one contiguous buffer each (the
parameters become views of it, so the optimizer and the model see no
difference) and the update is a single ``lerp_`` over that buffer, which
saves the per-tensor overhead of models with hundreds of small tensors.
"""
import warnings
from collections import defaultdict
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
        student (nn.Module): Read only (with ``flat=True`` its parameters'
            storage moves into one buffer; values and objects stay).
        buffers (str): One of :data:`BUFFER_POLICIES`. Defaults to ``'copy'``.
        flat (bool): Keep the contiguous floating-point parameters of both
            models in one buffer per dtype and device and update them with
            one ``lerp_``. If a parameter is later given new storage (e.g.
            ``model.to(device)``), the buffers are rebuilt at the next
            update. Defaults to False.

    Examples:
        >>> import copy, torch.nn as nn
        >>> student = nn.Linear(2, 2)
        >>> teacher = copy.deepcopy(student).requires_grad_(False)
        >>> ema = TeacherEMA(teacher, student)
        >>> ema.update(momentum=0.99)
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, buffers: str = 'copy',
                 flat: bool = False) -> None:
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
        self.flat = flat
        self._flat: List[tuple] = []  # (teacher buffer, student buffer, tensors, pointers)
        if flat:
            self._flatten(t_params, s_params)

    @torch.no_grad()
    def _flatten(self, t_params: List[torch.Tensor], s_params: List[torch.Tensor]) -> None:
        """Move contiguous float parameters into one buffer per dtype and device."""
        groups = defaultdict(list)
        for t, s in zip(t_params, s_params):
            if (t.is_floating_point() and t.is_contiguous() and s.is_contiguous()
                    and t.device == s.device):
                groups[(t.dtype, t.device)].append((t, s))
        self._flat_pairs = [pair for pairs in groups.values() for pair in pairs]
        flattened = {id(t) for t, _ in self._flat_pairs}
        self._flat = []
        for (dtype, device), pairs in groups.items():
            total = sum(t.numel() for t, _ in pairs)
            flat_t = torch.empty(total, dtype=dtype, device=device)
            flat_s = torch.empty(total, dtype=dtype, device=device)
            offset = 0
            for t, s in pairs:
                n = t.numel()
                flat_t[offset:offset + n].copy_(t.reshape(-1))
                flat_s[offset:offset + n].copy_(s.reshape(-1))
                t.data = flat_t[offset:offset + n].view_as(t)
                s.data = flat_s[offset:offset + n].view_as(s)
                offset += n
            tensors = [x for pair in pairs for x in pair]
            self._flat.append((flat_t, flat_s, tensors, [x.data_ptr() for x in tensors]))
        # Only what is not in a flat buffer stays in the per-tensor lists.
        keep = [i for i, t in enumerate(self._avg_t) if id(t) not in flattened]
        self._avg_t = [self._avg_t[i] for i in keep]
        self._avg_s = [self._avg_s[i] for i in keep]
        self._flat_params = (t_params, s_params)

    def _flat_intact(self) -> bool:
        return all([x.data_ptr() for x in tensors] == ptrs for *_, tensors, ptrs in self._flat)

    @torch.no_grad()
    def update(self, momentum: float) -> None:
        """teacher <- momentum * teacher + (1 - momentum) * student.

        Args:
            momentum (float): Keep rate of the teacher, in [0, 1]. 0 copies
                the student, 1 leaves the teacher unchanged.
        """
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'momentum must be in [0, 1], got {momentum!r}')
        if self._flat and not self._flat_intact():
            warnings.warn('TeacherEMA: parameters got new storage since the flat buffers were '
                          'built (e.g. model.to()); rebuilding them')
            # Back to the per-tensor lists, then flatten again what still can be.
            self._avg_t += [t for t, _ in self._flat_pairs]
            self._avg_s += [s for _, s in self._flat_pairs]
            self._flatten(*self._flat_params)
        for flat_t, flat_s, _, _ in self._flat:
            flat_t.lerp_(flat_s, 1.0 - momentum)
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
