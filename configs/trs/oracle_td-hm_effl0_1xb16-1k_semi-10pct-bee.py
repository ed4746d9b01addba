# A diagnostic, not a method: the mean-teacher recipe with the unlabeled
# images' *true* keypoints as pseudo keypoints (OraclePoseAdapter). Views,
# transfer to the strong view, targets, loss and schedule are the mean
# teacher's, so a run shows the most the unlabeled path can give this recipe
# (docs/pose.md reports it). It reads the truth of the "unlabeled" images
# (the hidden-truth json): never a results row.
_base_ = ['./mean-teacher_td-hm_effl0_1xb16-1k_semi-10pct-bee.py']
model = dict(adapter=dict(_delete_=True, type='OraclePoseAdapter', reviewer_weight=0.0),
             hidden_gt=True)
train_dataloader = dict(dataset=dict(unlabeled=dict(
    ann_file=f'annotations/semi/hidden_gt/{_base_.split}.unlabeled.json')))
