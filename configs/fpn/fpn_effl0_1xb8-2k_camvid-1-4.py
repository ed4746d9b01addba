# Supervised baseline on the 1/4 labeled split (92 images, split seed 1).
_base_ = ['./fpn_effl0_1xb8-2k_camvid.py']
split = 'train.1-4.seed1'
train_dataloader = dict(dataset=dict(ann_file=f'splits/{split}.labeled.txt'))
