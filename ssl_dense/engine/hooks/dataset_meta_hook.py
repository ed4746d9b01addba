"""Give the model the training dataset's metainfo (class names, palette)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ssl_dense.registry import HOOKS

__all__ = ['DatasetMetaHook']


@HOOKS.register_module()
class DatasetMetaHook(Hook):
    """Set ``model.dataset_meta`` from the training dataset before training.

    mmengine stores the dataset's metainfo in checkpoints but never hands it
    to the model during training. With it, a TeacherStudent logs pseudo-label
    statistics by class name (``pl_num_RBC``) instead of by index. A
    ``dataset_meta`` the model already has is left as it is.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        meta = getattr(runner.train_dataloader.dataset, 'metainfo', None)
        if meta and not getattr(model, 'dataset_meta', None):
            model.dataset_meta = dict(meta)
