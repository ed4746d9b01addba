# As mean-teacher-dars-cutmix-fp_fpn_effl0_1xb16-2k_semi-1-8-camvid.py, on the 1/4 labeled
# split (92 images, split seed 1); the other 275 train images unlabeled.
_base_ = ['./mean-teacher-dars-cutmix-fp_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
split = 'train.1-4.seed1'
train_dataloader = dict(dataset=dict(labeled=dict(ann_file=f'splits/{split}.labeled.txt'),
                                     unlabeled=dict(ann_file=f'splits/{split}.unlabeled.txt')))
