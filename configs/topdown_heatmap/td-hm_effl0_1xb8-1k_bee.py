# Supervised top-down heatmaps (EfficientNet-Lite0) on all 191 bee train
# images (166 annotated bees): the `supervised_full` row of the pose table.
_base_ = [
    '../_base_/models/td-hm_effl0.py',
    '../_base_/datasets/bee_pose_topdown.py',
    '../_base_/schedules/schedule_adam_1k.py',
    '../_base_/default_runtime.py',
]
model = dict(head=dict(out_channels=32, decoder={{_base_.codec}}))
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(interval=1000, max_keep_ckpts=1))
