from .semi_dataset import LabeledUnlabeledSampler, SemiDataset
from .transforms import LoadImageChecked, MultiView

__all__ = ['MultiView', 'LoadImageChecked', 'SemiDataset', 'LabeledUnlabeledSampler']
