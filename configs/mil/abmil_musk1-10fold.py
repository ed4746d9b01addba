# Attention-based MIL (Ilse et al. 2018) on MUSK1, fold 0 of split seed 1.
# python tools/train.py configs/mil/abmil_musk1-10fold.py --fold 3
_base_ = [
    '../_base_/datasets/mil_musk1.py',
    '../_base_/schedules/mil_adam_40e.py',
    '../_base_/mil_runtime.py',
]
model = dict(type='BagClassifier',
             aggregator=dict(type='ABMIL', in_channels={{_base_.in_channels}}))
