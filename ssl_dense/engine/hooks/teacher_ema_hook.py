"""Update a teacher-student model's teacher as an EMA of its student."""
import math
from typing import Optional, Union

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ssl_dense.models.semi.ema import BUFFER_POLICIES, TeacherEMA
from ssl_dense.registry import HOOKS

__all__ = ['TeacherEMAHook', 'momentum_at']

MOMENTUM_SCHEDULES = ('constant', 'linear', 'cosine')


def momentum_at(schedule: dict, step: int) -> float:
    """Teacher keep rate after ``step`` EMA updates.

    Args:
        schedule (dict): ``type`` and its values:

            - ``constant``: ``value``.
            - ``linear``: ``start`` to ``end`` over ``steps`` updates, then
              ``end`` (HSSDA ramps 0.5 to 0.9996 over 2000 steps).
            - ``cosine``: ``start`` to ``end`` (usually 1.0) over ``steps``
              updates along half a cosine, then ``end``:
              ``end - (end - start) * (1 + cos(pi * step / steps)) / 2``.
        step (int): Number of EMA updates done so far (0 for the first).

    Returns:
        float: The momentum (keep rate) in [0, 1].
    """
    kind = schedule['type']
    if kind == 'constant':
        return float(schedule['value'])
    start, end, steps = float(schedule['start']), float(schedule['end']), int(schedule['steps'])
    progress = min(step / steps, 1.0)
    if kind == 'linear':
        return start + (end - start) * progress
    if kind == 'cosine':
        return end - (end - start) * (1.0 + math.cos(math.pi * progress)) / 2.0
    raise ValueError(f'unknown momentum schedule {kind!r}; use one of {MOMENTUM_SCHEDULES}')


def _check_schedule(momentum: Union[float, dict]) -> dict:
    schedule = dict(type='constant', value=momentum) if isinstance(
        momentum, (int, float)) else dict(momentum)
    kind = schedule.get('type')
    needed = {'constant': ('value', ), 'linear': ('start', 'end', 'steps'),
              'cosine': ('start', 'end', 'steps')}
    if kind not in needed:
        raise ValueError(f'momentum type must be one of {MOMENTUM_SCHEDULES}, got {kind!r}')
    missing = [k for k in needed[kind] if k not in schedule]
    if missing:
        raise KeyError(f'momentum schedule {kind!r} needs {missing}, got {schedule}')
    for key in ('value', 'start', 'end'):
        if key in schedule and not 0.0 <= schedule[key] <= 1.0:
            raise ValueError(f'momentum {key} must be in [0, 1], got {schedule[key]!r}')
    if 'steps' in schedule and int(schedule['steps']) <= 0:
        raise ValueError(f'momentum steps must be positive, got {schedule["steps"]!r}')
    return schedule


@HOOKS.register_module()
class TeacherEMAHook(Hook):
    """Keep ``model.teacher`` an exponential moving average of ``model.student``.

    After every ``interval``-th training iteration::

        teacher <- m * teacher + (1 - m) * student

    where ``m`` (the teacher's keep rate, see :mod:`ssl_dense.models.semi.ema`)
    follows ``momentum``. During the first ``burn_in_iters`` iterations the
    teacher is a plain copy of the student; the schedule starts after them.
    When training starts from iteration 0 the teacher is set to the student
    (unless ``copy_at_start=False``, for a teacher initialised from elsewhere);
    after ``--resume`` the teacher saved in the checkpoint is kept as it is.

    Under DDP every rank updates its own teacher from its student, whose
    weights DDP keeps identical, so the teachers' weights stay identical
    too. Their batch-norm running statistics do not (each rank's student
    sees its own batches, and mmengine's DDP wrapper does not broadcast
    buffers): with ``buffers='copy'`` or ``'ema'`` each teacher carries its
    rank's statistics, and a checkpoint keeps rank 0's. Use SyncBN in the
    model for one set of statistics across ranks.

    Args:
        momentum (float or dict): Constant keep rate, or a schedule dict for
            :func:`momentum_at`, e.g. ``dict(type='linear', start=0.5,
            end=0.9996, steps=2000)``. Defaults to 0.999.
        burn_in_iters (int): Iterations during which the teacher copies the
            student. Defaults to 0.
        interval (int): Update every this many iterations. Defaults to 1.
        buffers (str): Buffer policy, one of ``'skip'``, ``'copy'``,
            ``'ema'``. Defaults to ``'copy'``.
        copy_at_start (bool): Set the teacher to the student when training
            starts from iteration 0. False keeps the teacher the model built
            (e.g. MHIM's teacher loaded from a baseline checkpoint; a model
            whose ``teacher_init_from`` names such a checkpoint refuses True).
            Defaults to True.
        flat_params (bool): Keep the teacher's and the student's parameters
            in one contiguous buffer each (the parameters become views; see
            :class:`~ssl_dense.models.semi.TeacherEMA`), so the update is one
            ``lerp_`` without per-tensor overhead (on a RetinaNet-R50 on CPU
            0.63-0.68 of mmdet's update time against 0.64-0.72 per tensor,
            ``docs/benchmarks/ema_speed_2026-11-22.txt``). Defaults to True.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 momentum: Union[float, dict] = 0.999,
                 burn_in_iters: int = 0,
                 interval: int = 1,
                 buffers: str = 'copy',
                 copy_at_start: bool = True,
                 flat_params: bool = True) -> None:
        self.schedule = _check_schedule(momentum)
        if burn_in_iters < 0:
            raise ValueError(f'burn_in_iters must be >= 0, got {burn_in_iters!r}')
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval!r}')
        if buffers not in BUFFER_POLICIES:
            raise ValueError(f'buffers must be one of {BUFFER_POLICIES}, got {buffers!r}')
        self.burn_in_iters = burn_in_iters
        self.interval = interval
        self.buffers = buffers
        self.copy_at_start = copy_at_start
        self.flat_params = flat_params
        self._ema: Optional[TeacherEMA] = None

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for name in ('teacher', 'student'):
            if not hasattr(model, name):
                raise TypeError(f'TeacherEMAHook needs a model with `teacher` and `student` '
                                f'(e.g. ssl_dense TeacherStudent), got {type(model).__name__} '
                                f'without `{name}`')
        self._ema = TeacherEMA(model.teacher, model.student, buffers=self.buffers,
                               flat=self.flat_params)
        if runner.iter == 0 and self.copy_at_start:
            own_start = getattr(model, 'teacher_init_from', None)
            if own_start:
                raise ValueError(f'the teacher starts from {own_start}, and TeacherEMAHook('
                                 'copy_at_start=True) would overwrite it with the student at '
                                 'iteration 0: set copy_at_start=False')
            self._ema.copy_student()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        done = runner.iter + 1  # iterations finished, this one included
        if done <= self.burn_in_iters:
            self._ema.copy_student()
            momentum = 0.0
        elif (done - self.burn_in_iters) % self.interval == 0:
            step = (done - self.burn_in_iters) // self.interval - 1
            momentum = momentum_at(self.schedule, step)
            self._ema.update(momentum)
        else:
            return
        runner.message_hub.update_scalar('train/teacher_momentum', momentum)
