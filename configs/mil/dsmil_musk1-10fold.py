# DSMIL on MUSK1 (same data, optimiser and schedule as ABMIL), fold 0 of split seed 1.
_base_ = ['./abmil_musk1-10fold.py']
model = dict(aggregator=dict(_delete_=True, type='DSMIL', in_channels={{_base_.in_channels}}))
