# DSMIL + attention entropy maximisation (AEM, lambda 0.1) on MUSK1.
_base_ = ['./dsmil_musk1-10fold.py']
model = dict(aem=dict(type='AttentionEntropyLoss', loss_weight=0.1))
