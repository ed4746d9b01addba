# TransMIL + masked hard-instance mining with a momentum teacher on MUSK1 (the
# MHIM settings of abmil-mhim_musk1-10fold.py).
_base_ = ['./abmil-mhim_musk1-10fold.py']
model = dict(aggregator=dict(_delete_=True, type='TransMIL', in_channels={{_base_.in_channels}}))
