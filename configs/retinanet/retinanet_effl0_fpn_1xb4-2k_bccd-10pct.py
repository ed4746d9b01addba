# Supervised baseline of the 2k-iteration semi-supervised runs: the same
# RetinaNet and schedule on the 10 % labeled split only (split seed 1).
_base_ = ['./retinanet_effl0_fpn_1xb4-2k_bccd.py']
split = 'train.10pct.seed1'
train_dataloader = dict(dataset=dict(ann_file=f'annotations/semi/{split}.labeled.json'))
