# Full Teacher-Reviewer-Student on COCO person keypoints (17 keypoints, mmpose's
# COCO meta: names, flip pairs, skeleton, OKS sigmas). The recipe of the bee
# configs with COCO data: labeled people with keypoints; unlabeled people
# cropped from their boxes (several per image; their keypoints never reach a
# loss). Make the two parts with
#   python tools/split_dataset.py data/coco/annotations/person_keypoints_train2017.json \
#       --percent 10 --seed 1 --keep-unlabeled-annotations --out-dir data/coco/annotations/semi
# (or write a person detector's boxes into the unlabeled json).
_base_ = ['./trs_td-hm_effl0_1xb16-1k_semi-10pct-bee.py']
data_root = 'data/coco/'
metainfo = dict(from_file='configs/_base_/datasets/coco.py')  # mmpose's own
split = 'person_keypoints_train2017.10pct.seed1'
val_ann = 'annotations/person_keypoints_val2017.json'
input_size = {{_base_.input_size}}
meta_keys = {{_base_.meta_keys}}
model = dict(model=dict(head=dict(out_channels=17)))
# People are cropped from their boxes with mmpose's usual 1.25 padding.
unlabeled_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='ssl_dense.MultiView', branches={{_base_.branch_names}}, views=dict(
        unsup_weak=[
            dict(type='ssl_dense.TopdownAffineWithHomography', input_size=input_size),
            dict(type='PackPoseInputs', meta_keys=meta_keys, pack_transformed=True)],
        unsup_strong=[*_base_.geometric, _base_.strong_photometric,
                      dict(type='PackPoseInputs', meta_keys=meta_keys, pack_transformed=True)])),
]
coco = dict(data_root=data_root, metainfo=metainfo, data_prefix=dict(img='train2017/'))
train_dataloader = dict(dataset=dict(
    labeled=dict(coco, ann_file=f'annotations/semi/{split}.labeled.json'),
    unlabeled=dict(coco, ann_file=f'annotations/semi/{split}.unlabeled.json',
                   unlabeled_boxes='annotation', pipeline=unlabeled_pipeline)))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo, ann_file=val_ann,
                                   data_prefix=dict(img='val2017/')))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='mmpose.PCKAccuracy', thr=0.05, norm_item='bbox'),
    dict(type='mmpose.CocoMetric', ann_file=data_root + val_ann),
]
test_evaluator = val_evaluator
