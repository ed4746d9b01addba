# Semi-supervised pose recipe on the bee set, 10 % of train labeled (split
# seed 1: 19 annotated images), the other 172 images unlabeled (whole-image
# boxes, see ssl_dense.PoseCocoDataset). No `model`: leaf configs wrap the
# top-down estimator in TeacherStudent (configs/trs/).
# Each batch: 8 labeled + 8 unlabeled crops (the supervised rows: 8 labeled), so
# every row sees the same labeled data per iteration. The teacher sees a plain crop of
# an unlabeled image (weak view); the student a flipped, rotated, rescaled and
# colour-jittered one (strong view). Pseudo keypoints move between the two
# through the recorded homographies, left and right swapped where flipped.
_base_ = [
    '../datasets/bee_pose_topdown.py',
    '../schedules/schedule_adam_1k.py',
    '../default_runtime.py',
]
branches = dict(labeled='sup', weak='unsup_weak', strong='unsup_strong')
branch_names = ['sup', 'unsup_weak', 'unsup_strong']
split = 'bee_pose_train.10pct.seed1'
input_size = _base_.input_size
codec = _base_.codec
meta_keys = _base_.meta_keys
geometric = _base_.geometric
strong_photometric = dict(type='ssl_dense.AlbuPhotometric', transforms=[
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=0.8),
    dict(type='ToGray', p=0.2),
    dict(type='GaussianBlur', blur_limit=(3, 7), sigma_limit=(0.1, 2.0), p=0.5),
])
# The unlabeled views keep the (hidden) truth of the view for pseudo-label
# precision and recall logs (model.hidden_gt=True with a hidden_gt json);
# it never reaches a loss.
pack = dict(type='PackPoseInputs', meta_keys=meta_keys, pack_transformed=True)
labeled_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='ssl_dense.MultiView', branches=branch_names, views=dict(sup=[
        *geometric, dict(type='GenerateTarget', encoder=codec), pack])),
]
# Unlabeled images have no box: the whole image is one (ssl_dense.PoseCocoDataset).
# Without the usual 1.25 padding its crop shows a bee at about the scale of a
# labeled crop (annotated boxes span 0.76 of the image side on average, times
# 1.25), not 0.76x smaller with a black frame.
unlabeled_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='ssl_dense.MultiView', branches=branch_names, views=dict(
        unsup_weak=[dict(type='ssl_dense.TopdownAffineWithHomography', input_size=input_size),
                    pack],
        unsup_strong=[*geometric, strong_photometric, pack])),
]
dataset_common = _base_.dataset_common
train_dataloader = dict(
    _delete_=True,
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='LabeledUnlabeledSampler', batch_size=16, num_labeled=8),
    dataset=dict(
        _scope_='mmpose',
        type='ssl_dense.SemiDataset',
        labeled=dict(dataset_common, ann_file=f'annotations/semi/{split}.labeled.json',
                     pipeline=labeled_pipeline),
        unlabeled=dict(dataset_common, ann_file=f'annotations/semi/{split}.unlabeled.json',
                       unlabeled=True, pipeline=unlabeled_pipeline)))

custom_hooks = [
    # Teacher = student during burn-in, then an EMA whose keep rate ramps up.
    dict(type='TeacherEMAHook', burn_in_iters=300,
         momentum=dict(type='linear', start=0.5, end=0.999, steps=200)),
    dict(type='UnsupWeightHook', weight=1.0, burn_in_iters=300, ramp_iters=100),
    dict(type='DatasetMetaHook'),
]
# The reviewer configs add this hook: one historical teacher, taken every 150
# iterations after the burn-in.
reviewer_hook = dict(type='ReviewerHook', num_snapshots=1, when='interval', interval=150,
                     start_iter=300)
val_cfg = dict(type='TeacherStudentValLoop')
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(interval=1000, max_keep_ckpts=1))
