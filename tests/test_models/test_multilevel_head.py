"""MultiLevelHeatmapHead: every stage is supervised; inference uses the last
level or a fusion; mmpose's predict (flip test included) works with it."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData, PixelData
from mmpose.structures import PoseDataSample

from ssl_dense.models.tasks import MultiLevelHeatmapHead
from ssl_dense.registry import MODELS

CODEC = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)


def _estimator(**head):
    init_default_scope('mmpose')
    return MODELS.build(dict(
        type='TopdownPoseEstimator', _scope_='mmpose',
        backbone=dict(type='ResNet', depth=18, out_indices=(1, 2, 3)),
        head=dict(dict(type='ssl_dense.MultiLevelHeatmapHead', in_channels=(128, 256, 512),
                       out_channels=5, deconv_out_channels=(32, 32, 32),
                       deconv_kernel_sizes=(4, 4, 4),
                       loss=dict(type='KeypointMSELoss', use_target_weight=True),
                       decoder=CODEC), **head),
        test_cfg=dict(flip_test=True)))


def _samples(n=2):
    out = []
    for _ in range(n):
        s = PoseDataSample(metainfo=dict(
            flip_indices=[0, 2, 1, 4, 3], input_size=np.array([64, 64]),
            input_center=np.array([32., 32.]), input_scale=np.array([64., 64.]),
            img_shape=(64, 64)))
        s.gt_fields = PixelData(heatmaps=torch.rand(5, 16, 16))
        s.gt_instance_labels = InstanceData(keypoint_weights=torch.ones(1, 5))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[0., 0., 64., 64.]]),
                                      bbox_scores=torch.ones(1))
        out.append(s)
    return out


def test_every_level_is_supervised_with_its_weight():
    torch.manual_seed(0)
    model = _estimator(level_weights=(0.25, 0.5, 1.0))
    inputs = torch.rand(2, 3, 64, 64)
    losses = model.loss(inputs, _samples())
    levels = [losses[f'mse_level{i}'] for i in range(3)]
    expected = 0.25 * levels[0] + 0.5 * levels[1] + levels[2]
    assert torch.allclose(losses['loss_kpt'], expected)
    losses['loss_kpt'].backward()
    for side in model.head.sides:  # the shallow stages learn too
        assert side[0].weight.grad.abs().sum() > 0
    assert model.backbone.layer2[0].conv1.weight.grad.abs().sum() > 0


def test_inference_is_the_final_level_or_the_fusion():
    torch.manual_seed(0)
    model = _estimator(inference='fusion', fusion_weights=(1, 1, 2)).eval()
    feats = model.extract_feat(torch.rand(1, 3, 64, 64))
    levels = model.head.forward_levels(feats)
    assert [tuple(hm.shape) for hm in levels] == [(1, 5, 16, 16)] * 3
    fused = (levels[0] + levels[1] + 2 * levels[2]) / 4
    assert torch.allclose(model.head.forward(feats), fused, atol=1e-6)
    model.head.inference = 'final'
    assert torch.equal(model.head.forward(feats), levels[-1])
    # mmpose's predict path (flip test) decodes the inference heatmaps.
    results = model.predict(torch.rand(1, 3, 64, 64), _samples(1))
    assert results[0].pred_instances.keypoints.shape == (1, 5, 2)


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match='level_weights needs 3'):
        MultiLevelHeatmapHead(in_channels=(8, 16, 32), out_channels=5, level_weights=(1, 1))
    with pytest.raises(ValueError, match="inference must be 'final' or 'fusion'"):
        MultiLevelHeatmapHead(in_channels=(8, 16), out_channels=5, inference='mean')
    model = _estimator()
    with pytest.raises(ValueError, match='reads 3 stages'):
        model.head.forward_levels((torch.rand(1, 512, 2, 2), ))
