from .bag_metric import BagMetric, bag_metrics, binary_auc
from .grouped_iou_metric import GroupedIoUMetric

__all__ = ['BagMetric', 'bag_metrics', 'binary_auc', 'GroupedIoUMetric']
