"""mmseg's IoU metric, also per group of images (e.g. per video sequence)."""
import os.path as osp
import re
from typing import Dict, List, Sequence

import numpy as np
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation.metrics import IoUMetric
from prettytable import PrettyTable

from ssl_dense.registry import METRICS

__all__ = ['GroupedIoUMetric']

#: Group of images whose file name does not match the pattern.
OTHER = 'other'


@METRICS.register_module()
class GroupedIoUMetric(IoUMetric):
    """:class:`mmseg.evaluation.IoUMetric` over the whole set, plus the same
    metrics over each group of images, the group read from the file name.

    Video datasets mix sequences: CamVid ``test`` holds frames of a sequence
    whose other frames are in ``train`` (``0001TP_…``) and of one that is
    not (``Seq05VD_…``). Whether a model helps on both is a question one
    overall number hides. The overall keys (``aAcc``, ``mIoU``, ``mAcc``, …)
    are exactly IoUMetric's; each group adds every one of them as
    ``<key>_<group>`` (e.g. ``mIoU_Seq05VD``),
    from the areas summed over that group's images only, and the log gets a
    table of groups, images and metrics. With one group the keys are
    IoUMetric's alone.

    Args:
        group_pattern (str): Regular expression searched in each image's
            file name (without folder); its first capture group, or the
            whole match when it has none, names the image's group. Images it
            does not match go to the group ``other``. Characters other than
            letters, digits, ``_``, ``.`` and ``-`` in a name become ``_``.
            Defaults to ``r'^([^_]+)_'``, the text before the first
            underscore (CamVid: ``0001TP``, ``0006R0``, ``0016E5``,
            ``Seq05VD``).
        **kwargs: The arguments of :class:`mmseg.evaluation.IoUMetric`
            (``ignore_index``, ``iou_metrics``, ``nan_to_num``, …).
    """

    def __init__(self, group_pattern: str = r'^([^_]+)_', **kwargs) -> None:
        super().__init__(**kwargs)
        try:
            self.group_pattern = re.compile(group_pattern)
        except re.error as e:
            raise ValueError(f'GroupedIoUMetric: group_pattern {group_pattern!r} is not a '
                             f'regular expression: {e}') from e

    def group_of(self, img_path: str) -> str:
        """The group an image belongs to, from its file name."""
        match = self.group_pattern.search(osp.basename(img_path))
        if not match:
            return OTHER
        name = match.group(1) if self.group_pattern.groups else match.group(0)
        return re.sub(r'[^\w.-]', '_', name) or OTHER

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """IoUMetric's per-image areas, each with the image's group."""
        start = len(self.results)
        super().process(data_batch, data_samples)
        if self.format_only:
            return
        for i, sample in enumerate(data_samples):
            self.results[start + i] = (*self.results[start + i],
                                       self.group_of(sample.get('img_path', '')))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """IoUMetric's metrics over all images, then over each group."""
        if self.format_only:
            return super().compute_metrics(results)
        groups = [r[4] for r in results]
        metrics = super().compute_metrics([r[:4] for r in results])
        names = sorted(set(groups))
        if len(names) < 2:
            return metrics
        rows = []
        for name in names:
            part = [r[:4] for r in results if r[4] == name]
            areas = [sum(a) for a in zip(*part)]
            per_class = self.total_area_to_metrics(*areas, self.metrics, self.nan_to_num,
                                                   self.beta)
            values = {k if k == 'aAcc' else f'm{k}': round(float(np.nanmean(v)) * 100, 2)
                      for k, v in per_class.items()}
            metrics.update({f'{k}_{name}': v for k, v in values.items()})
            rows.append([name, len(part), *values.values()])
        table = PrettyTable(['group', 'images', *values])
        for row in rows:
            table.add_row(row)
        print_log('per group results:\n' + table.get_string(),
                  logger=MMLogger.get_current_instance())
        return metrics
