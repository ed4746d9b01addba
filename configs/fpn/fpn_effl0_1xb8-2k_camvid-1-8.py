# Supervised baseline of the semi-supervised CamVid runs: the same model and
# schedule on the 1/8 labeled split (46 images, split seed 1).
_base_ = ['./fpn_effl0_1xb8-2k_camvid.py']
split = 'train.1-8.seed1'
train_dataloader = dict(dataset=dict(ann_file=f'splits/{split}.labeled.txt'))
