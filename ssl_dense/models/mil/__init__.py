from .aggregators import ABMIL, DSMIL, NystromAttention, TransMIL
from .classifier import BagClassifier, MHIMBagClassifier
from .losses import AttentionEntropyLoss, soft_target_cross_entropy

__all__ = [
    'ABMIL', 'DSMIL', 'TransMIL', 'NystromAttention', 'BagClassifier', 'MHIMBagClassifier',
    'AttentionEntropyLoss', 'soft_target_cross_entropy'
]
