"""Validation that reports the teacher and the student of a teacher-student model."""
from mmengine.model import is_model_wrapper
from mmengine.runner import ValLoop

from ssl_dense.registry import LOOPS

__all__ = ['TeacherStudentValLoop']


@LOOPS.register_module()
class TeacherStudentValLoop(ValLoop):
    """Evaluate both members of a teacher-student model on the val set.

    Metrics come back twice, prefixed ``teacher/`` and ``student/``, plus the
    unprefixed metrics of the member named by the model's ``predict_on`` (so
    ``save_best='coco/bbox_mAP'`` keeps working and refers to that member).
    Costs two passes over the val set.

    Args:
        runner, dataloader, evaluator, fp16: As in mmengine's ``ValLoop``.
    """

    def run(self) -> dict:
        model = self.runner.model.module if is_model_wrapper(self.runner.model) \
            else self.runner.model
        if not hasattr(model, 'predict_on'):
            raise TypeError(f'TeacherStudentValLoop needs a model with `predict_on` '
                            f'(TeacherStudent), got {type(model).__name__}')
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        self.runner.model.eval()
        chosen = model.predict_on
        metrics: dict = {}
        try:
            for member in ('teacher', 'student'):
                model.predict_on = member
                for idx, data_batch in enumerate(self.dataloader):
                    self.run_iter(idx, data_batch)
                result = self.evaluator.evaluate(len(self.dataloader.dataset))
                metrics.update({f'{member}/{k}': v for k, v in result.items()})
                if member == chosen:
                    metrics.update(result)
        finally:
            model.predict_on = chosen
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics
