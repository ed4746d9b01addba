"""Segmentation inference and drawing for the demos (mmseg models and
TeacherStudent wrappers of them)."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

__all__ = ['SegPredictor', 'draw_segmentation', 'is_segmentation_config']


def _task_model(cfg: Config) -> dict:
    """The task model of a config (inside a TeacherStudent, if any)."""
    model = cfg.model
    while isinstance(model.get('model'), dict):
        model = model['model']
    return model


def task_scope(cfg: Config) -> Optional[str]:
    """The registry scope of the config's (task) model: its ``_scope_``, the
    prefix of its type (``mmseg.EncoderDecoder``) or the config's
    ``default_scope`` (plain mmseg / mmpose configs)."""
    model = _task_model(cfg)
    if model.get('_scope_'):
        return model['_scope_']
    kind = str(model.get('type', ''))
    return kind.split('.')[0] if '.' in kind else cfg.get('default_scope')


def build_task_model(cfg: Config):
    """Build ``cfg.model`` (a task model or a TeacherStudent around one) for
    inference: the backbone's pretrained ``init_cfg`` is dropped (the weights
    come from the checkpoint) and a task model of a plain mmseg / mmpose
    config is built in that config's ``default_scope``."""
    from ssl_dense.registry import MODELS
    model = _task_model(cfg)
    scope = task_scope(cfg)
    if scope and not model.get('_scope_') and '.' not in str(model.get('type', '')):
        model['_scope_'] = scope
    backbone = model.get('backbone', {})
    if isinstance(backbone, dict):
        backbone.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope('ssl_dense'):
        return MODELS.build(cfg.model.copy())


def is_segmentation_config(cfg: Config) -> bool:
    """Whether the config's (task) model is an mmseg segmentor."""
    return task_scope(cfg) == 'mmseg'


class SegPredictor:
    """Runs a segmentation config + checkpoint on BGR images (numpy arrays).

    The image is resized like the config's test pipeline (its ``Resize``
    step, if any), the model predicts, and the label map comes back at the
    image's own size.

    Args:
        config (str): Config file.
        checkpoint (str): Checkpoint file.
        device (str): Device. Defaults to ``'cpu'``.
    """

    def __init__(self, config: str, checkpoint: str, device: str = 'cpu') -> None:
        from ssl_dense.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        import mmseg.models  # noqa: F401
        self.cfg = Config.fromfile(config)
        self.model = build_task_model(self.cfg)
        ckpt = load_checkpoint(self.model, checkpoint, map_location='cpu')
        meta = (ckpt.get('meta') or {}).get('dataset_meta') or {}
        if not meta.get('classes'):  # a checkpoint without dataset meta: the config's
            meta = self._config_meta()
        self.classes: Sequence[str] = meta['classes']
        palette = meta.get('palette')
        if not palette or len(palette) < len(self.classes):
            palette = self._default_palette(len(self.classes))
        self.palette: List[Tuple[int, int, int]] = [tuple(map(int, c)) for c in palette]
        self.model.to(device).eval()
        steps = [dict(type='LoadImageFromNDArray')]
        for step in self.cfg.get('test_pipeline', []):
            if step['type'] in ('Resize', 'mmseg.Resize', 'mmdet.Resize'):
                steps.append(dict(step, type='mmseg.Resize'))
        steps.append(dict(type='mmseg.PackSegInputs'))
        with DefaultScope.overwrite_default_scope('mmseg'):
            self.pipeline = Compose(steps)

    def _config_meta(self) -> dict:
        """Classes (and palette) of the config's test dataset: its
        ``metainfo``, else its class's ``METAINFO``, else class numbers."""
        dataset = self.cfg.get('test_dataloader', {}).get('dataset', {})
        metainfo = dataset.get('metainfo') or {}
        if metainfo.get('classes'):
            return dict(metainfo)
        from ssl_dense.registry import DATASETS
        cls = DATASETS.get(str(dataset.get('type', '')).replace('ssl_dense.', ''))
        if cls is not None and hasattr(cls, 'METAINFO'):
            return dict(cls.METAINFO)
        num = _task_model(self.cfg)['decode_head']['num_classes']
        return dict(classes=[str(i) for i in range(num)])

    @staticmethod
    def _default_palette(n: int) -> List[Tuple[int, int, int]]:
        rng = np.random.default_rng(0)
        return [tuple(int(v) for v in rng.integers(0, 255, 3)) for _ in range(n)]

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Label map (H, W) of a BGR image."""
        data = self.pipeline(dict(img=image))
        batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
        result = self.model.test_step(batch)[0]
        return result.pred_sem_seg.data[0].cpu().numpy().astype(np.int64)


def draw_segmentation(image: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                      palette: Sequence[Tuple[int, int, int]], alpha: float = 0.5,
                      legend: bool = True, ignore_index: Optional[int] = None) -> np.ndarray:
    """Colour overlay of a label map on a BGR image, with a legend of the
    classes present (palette colours are RGB, as in mmseg's dataset meta).

    Args:
        image (np.ndarray): BGR image (H, W, 3).
        labels (np.ndarray): Label map (H, W).
        classes (Sequence[str]): Class names.
        palette (Sequence[tuple]): RGB colour per class.
        alpha (float): Opacity of the overlay. Defaults to 0.5.
        legend (bool): Draw the legend. Defaults to True.
        ignore_index (int, optional): Label left undrawn. Defaults to None.

    Returns:
        np.ndarray: The drawn BGR image.
    """
    if labels.shape != image.shape[:2]:
        raise ValueError(f'label map {labels.shape} and image {image.shape[:2]} differ in size')
    colours = np.zeros((len(palette) + 1, 3), dtype=np.uint8)
    colours[:len(palette)] = np.asarray(palette, dtype=np.uint8)[:, ::-1]  # RGB -> BGR
    known = (labels >= 0) & (labels < len(palette))
    if ignore_index is not None:
        known &= labels != ignore_index
    overlay = image.copy()
    overlay[known] = colours[labels[known]]
    out = cv2.addWeighted(overlay, alpha, image, 1 - alpha, 0)
    if legend:
        present = [c for c in np.unique(labels[known]).tolist()]
        row = 18
        width = max([cv2.getTextSize(classes[c], cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0]
                     for c in present] + [0]) + 30
        cv2.rectangle(out, (4, 4), (4 + width, 8 + row * len(present)), (255, 255, 255), -1)
        for k, c in enumerate(present):
            y = 8 + row * k
            cv2.rectangle(out, (8, y + 2), (20, y + 14), tuple(int(v) for v in colours[c]), -1)
            cv2.putText(out, classes[c], (26, y + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (0, 0, 0), 1, cv2.LINE_AA)
    return out
