# Mean teacher (fixed 0.95) whose strong view keeps the colours' identity: no
# hue shift and no grey images (brightness, contrast, saturation jitter and
# blur as before). A probe of whether colour-destroying noise costs the
# colour-defined classes (tree, road, sky) more than the unlabelled images
# give back; see the README's CamVid notes.
_base_ = ['./mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
strong_photometric = dict(type='ssl_dense.AlbuPhotometric', transforms=[
    dict(type='ColorJitter', brightness=0.5, contrast=0.5, saturation=0.5, hue=0.0, p=0.8),
    dict(type='GaussianBlur', blur_limit=(3, 7), sigma_limit=(0.1, 2.0), p=0.5),
])
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ssl_dense.MultiView', branches=_base_.branch_names, shared=_base_.geometric,
         views=dict(
             unsup_weak=[dict(type='PackSegInputs', meta_keys=_base_.meta_keys)],
             unsup_strong=[strong_photometric,
                           dict(type='PackSegInputs', meta_keys=_base_.meta_keys)])),
]
train_dataloader = dict(dataset=dict(unlabeled=dict(pipeline=unlabeled_pipeline)))
