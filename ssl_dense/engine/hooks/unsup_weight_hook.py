"""Burn-in and ramp-up of the unlabeled loss weight."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ssl_dense.registry import HOOKS

__all__ = ['UnsupWeightHook']


@HOOKS.register_module()
class UnsupWeightHook(Hook):
    """Set ``model.unsup_weight`` before every training iteration.

    The weight is 0 for the first ``burn_in_iters`` iterations (the student
    learns from labeled data only, and the teacher copies it when
    :class:`TeacherEMAHook` has the same burn-in), then rises linearly to
    ``weight`` over ``ramp_iters`` iterations and stays there::

        w(i) = 0                                   if i < burn_in_iters
        w(i) = weight * min(1, (i - burn_in_iters + 1) / ramp_iters)   otherwise

    Args:
        weight (float): Final unlabeled loss weight. Defaults to 1.0.
        burn_in_iters (int): Iterations with weight 0. Defaults to 0.
        ramp_iters (int): Iterations of the linear ramp; 0 jumps straight to
            ``weight``. Defaults to 0.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, weight: float = 1.0, burn_in_iters: int = 0, ramp_iters: int = 0) -> None:
        if weight < 0 or burn_in_iters < 0 or ramp_iters < 0:
            raise ValueError(f'weight, burn_in_iters and ramp_iters must be >= 0, got '
                             f'{weight!r}, {burn_in_iters!r}, {ramp_iters!r}')
        self.weight, self.burn_in_iters, self.ramp_iters = weight, burn_in_iters, ramp_iters

    def weight_at(self, iteration: int) -> float:
        """Unlabeled loss weight of (0-based) iteration ``iteration``."""
        if iteration < self.burn_in_iters:
            return 0.0
        if self.ramp_iters == 0:
            return self.weight
        return self.weight * min(1.0, (iteration - self.burn_in_iters + 1) / self.ramp_iters)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'unsup_weight'):
            raise TypeError(f'UnsupWeightHook needs a model with `unsup_weight` (e.g. '
                            f'TeacherStudent), got {type(model).__name__}')
        model.unsup_weight = self.weight_at(runner.iter)
        runner.message_hub.update_scalar('train/unsup_weight', model.unsup_weight)
