# As trs-soft_td-hm_effl0_1xb16-1k_semi-10pct-bee.py, with 30 % of train labeled
# (57 annotated images, split seed 1); the other train images unlabeled.
_base_ = ['./trs-soft_td-hm_effl0_1xb16-1k_semi-10pct-bee.py']
split = 'bee_pose_train.30pct.seed1'
train_dataloader = dict(
    dataset=dict(labeled=dict(ann_file=f'annotations/semi/{split}.labeled.json'),
                 unlabeled=dict(ann_file=f'annotations/semi/{split}.unlabeled.json')))
