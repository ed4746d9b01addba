# Supervised baseline, 30 % of train labeled (57 annotated images, split seed 1).
_base_ = ['./td-hm_effl0_1xb8-1k_bee.py']
split = 'bee_pose_train.30pct.seed1'
train_dataloader = dict(dataset=dict(ann_file=f'annotations/semi/{split}.labeled.json'))
