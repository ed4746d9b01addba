# Mean teacher (fixed threshold) that also logs the precision and recall of
# its pseudo labels against the hidden ground truth of the unlabeled images
# (pl_precision, pl_recall, and per class, every logging interval). The
# annotations only serve this analysis. Any other policy: add the two
# settings below to its config, or pass them with --cfg-options.
_base_ = ['./mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py']
model = dict(hidden_gt=True)
train_dataloader = dict(dataset=dict(unlabeled=dict(
    ann_file='annotations/semi/hidden_gt/train.10pct.seed1.unlabeled.json')))
