# Gated-attention MIL (Ilse et al. 2018) on MUSK1.
_base_ = ['./abmil_musk1-10fold.py']
model = dict(aggregator=dict(gated=True))
