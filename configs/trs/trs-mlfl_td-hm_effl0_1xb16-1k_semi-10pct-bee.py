# + Multi-level Feature Learning: heatmaps from backbone stages 2, 4 and 6
# (strides 8, 16, 32), each supervised; inference from the last level.
_base_ = ['./mean-teacher_td-hm_effl0_1xb16-1k_semi-10pct-bee.py']
model = dict(model=dict(
    backbone=dict(out_indices=(2, 4, 6)),
    head=dict(_delete_=True, type='ssl_dense.MultiLevelHeatmapHead', in_channels=(40, 112, 320),
              out_channels=32, level_weights=(0.5, 0.5, 1.0), inference='final',
              deconv_out_channels=(128, 128, 128), deconv_kernel_sizes=(4, 4, 4),
              loss=dict(type='KeypointMSELoss', use_target_weight=True),
              decoder={{_base_.codec}})))
