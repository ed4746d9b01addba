from .bag_metric import BagMetric, bag_metrics, binary_auc

__all__ = ['BagMetric', 'bag_metrics', 'binary_auc']
