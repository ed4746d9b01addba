# A diagnostic, not a method: the mean-teacher recipe with the unlabelled
# images' *true* label maps as pseudo labels (OracleSegmentationAdapter).
# Everything else is the plain mean teacher's (views, transfer to the strong
# view, loss, schedule), so it shows what the unlabelled path gives when
# every pseudo label is right; docs/segmentation.md reports it. It reads the
# labels of the "unlabelled" images: never a results row.
_base_ = ['./mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py']
model = dict(adapter=dict(_delete_=True, type='OracleSegmentationAdapter'))
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ssl_dense.LoadSegAnnotationsChecked', num_classes=11, ignore_index=11),
    *_base_.unlabeled_pipeline[1:],
]
train_dataloader = dict(dataset=dict(unlabeled=dict(
    data_prefix=dict(img_path='train', seg_map_path='trainannot'),
    pipeline=unlabeled_pipeline)))
