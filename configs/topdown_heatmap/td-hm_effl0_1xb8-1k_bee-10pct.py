# Supervised baseline of the semi-supervised bee runs: 10 % of train labeled
# (19 annotated images, split seed 1; tools/split_dataset.py
# --labeled-from-annotated).
_base_ = ['./td-hm_effl0_1xb8-1k_bee.py']
split = 'bee_pose_train.10pct.seed1'
train_dataloader = dict(dataset=dict(ann_file=f'annotations/semi/{split}.labeled.json'))
