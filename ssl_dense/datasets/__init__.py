from .mil import CLAMFeatureDataset, MILCsvDataset
from .pose import PoseCocoDataset, TopdownAffineWithHomography
from .segmentation import CamVidDataset, LoadSegAnnotationsChecked
from .semi_dataset import LabeledUnlabeledSampler, SemiDataset
from .transforms import AlbuPhotometric, LoadImageChecked, MultiView

__all__ = [
    'MultiView', 'LoadImageChecked', 'AlbuPhotometric', 'SemiDataset', 'LabeledUnlabeledSampler',
    'CamVidDataset', 'LoadSegAnnotationsChecked', 'MILCsvDataset',
    'CLAMFeatureDataset', 'TopdownAffineWithHomography', 'PoseCocoDataset'
]
