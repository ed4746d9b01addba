"""SegmentationAdapter: pixel pseudo labels, moved between views, as a loss."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from ssl_dense.models.semi import FixedThreshold
from ssl_dense.models.tasks import SegmentationAdapter, warp_label_map


def _sample(h_matrix, img_shape, pad_shape=None):
    sample = SegDataSample()
    sample.set_metainfo(dict(homography_matrix=np.asarray(h_matrix, dtype=np.float32),
                             img_shape=img_shape, pad_shape=pad_shape or img_shape))
    return sample


def test_warp_label_map_flip_resize_and_crop():
    labels = torch.arange(12).view(3, 4)
    flip = torch.tensor([[-1., 0., 4.], [0., 1., 0.], [0., 0., 1.]])
    torch.testing.assert_close(warp_label_map(labels, flip, (3, 4), (3, 4), 255),
                               labels.flip(-1))
    # 2x upsampling: every source pixel becomes a 2x2 block.
    up = torch.diag(torch.tensor([2., 2., 1.]))
    out = warp_label_map(labels, up, (6, 8), (3, 4), 255)
    torch.testing.assert_close(out, labels.repeat_interleave(2, 0).repeat_interleave(2, 1))
    # A crop shifted right by 2: target pixels beyond the source are ignored.
    shift = torch.tensor([[1., 0., -2.], [0., 1., 0.], [0., 0., 1.]])
    out = warp_label_map(labels, shift, (3, 4), (3, 4), 255)
    assert out[:, :2].tolist() == labels[:, 2:].tolist()
    assert (out[:, 2:] == 255).all()
    # Padding of the source (valid 2 rows of 3) is not a label.
    out = warp_label_map(labels, torch.eye(3), (3, 4), (2, 4), 255)
    assert (out[2] == 255).all() and out[:2].tolist() == labels[:2].tolist()


class _FixedSegmentor(torch.nn.Module):
    """Returns fixed logits; records the samples of its loss call."""

    def __init__(self, logits, ignore_index=255):
        super().__init__()
        self.logits = logits
        self.w = torch.nn.Parameter(torch.ones(1))
        self.decode_head = torch.nn.Module()
        self.decode_head.num_classes = logits.shape[1]
        self.decode_head.ignore_index = ignore_index

    def encode_decode(self, inputs, metas):
        return self.logits

    def loss(self, inputs, samples):
        self.samples = samples
        return {'decode.loss_ce': self.w * 1.0, 'decode.acc_seg': torch.tensor(50.0)}


def test_pseudo_labels_threshold_transfer_and_loss():
    # Two classes on a 2x4 image; confidences 0.9 left half, 0.6 right half.
    probs = torch.tensor([[[0.9, 0.9, 0.6, 0.4], [0.9, 0.9, 0.6, 0.4]]])
    logits = torch.log(torch.stack([probs, 1 - probs], dim=1))
    teacher = _FixedSegmentor(logits)
    adapter = SegmentationAdapter()
    weak = _sample(np.eye(3), (2, 4))
    pseudo = adapter.pseudo_labels(teacher, torch.zeros(1, 3, 2, 4), [weak],
                                   FixedThreshold(2, thr=0.8))
    assert pseudo[0].labels[0].tolist() == [[0, 0, 0, 1], [0, 0, 0, 1]]
    assert pseudo[0].weights[0].tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]
    stats = adapter.pseudo_label_stats(pseudo, 2)
    assert stats['count'].tolist() == [4.0, 0.0]
    # Strong view: horizontally flipped. Kept pixels land on the right.
    strong = _sample([[-1, 0, 4], [0, 1, 0], [0, 0, 1]], (2, 4))
    moved = adapter.transfer(pseudo, [weak], [strong])
    assert moved[0].labels[0].tolist() == [[-1, -1, 0, 0], [-1, -1, 0, 0]]
    student = _FixedSegmentor(logits)
    losses = adapter.unsupervised_loss(student, torch.zeros(1, 3, 2, 4), [strong], moved)
    assert student.samples[0].gt_sem_seg.data.tolist() == [[[255, 255, 0, 0], [255, 255, 0, 0]]]
    assert set(losses) == {'decode.loss_ce'} and losses['decode.loss_ce'].requires_grad
    # Hidden ground truth: right half is class 1, so 4 of 4 kept pixels are right.
    weak.gt_sem_seg = PixelData(data=torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 255]]]))
    q = adapter.pseudo_label_quality(pseudo, [weak], 2)
    assert q['tp'].tolist() == [4.0, 0.0] and q['num_gt'].tolist() == [4.0, 3.0]


def test_gt_classes_are_the_labeled_pixels_not_ignored():
    # What DistributionAlignedThreshold counts class shares from.
    model = _FixedSegmentor(torch.zeros(1, 3, 2, 2), ignore_index=11)
    first, second = _sample(np.eye(3), (2, 2)), _sample(np.eye(3), (1, 3))
    first.gt_sem_seg = PixelData(data=torch.tensor([[[0, 2], [11, 2]]]))
    second.gt_sem_seg = PixelData(data=torch.tensor([[[1, 11, 11]]]))
    classes = SegmentationAdapter().gt_classes(model, [first, second])
    assert classes.tolist() == [0, 2, 2, 1]


def test_no_pseudo_pixel_gives_exact_zero_loss():
    adapter = SegmentationAdapter()
    student = _FixedSegmentor(torch.zeros(1, 2, 2, 2))
    moved = [PixelData(labels=torch.full((1, 2, 2), -1))]
    losses = adapter.unsupervised_loss(student, torch.zeros(1, 3, 2, 2),
                                       [_sample(np.eye(3), (2, 2))], moved)
    assert losses['loss_pseudo'].item() == 0.0 and losses['loss_pseudo'].requires_grad


def test_seg_cutmix_moves_pixels_and_pseudo_labels_together(monkeypatch):
    from ssl_dense.models.tasks import SegCutMix
    mix = SegCutMix(prob=1.0)
    monkeypatch.setattr(mix, 'box', lambda h, w: (1, 2, 3, 5))  # rows 1-2, columns 2-4
    inputs = torch.stack([torch.zeros(3, 4, 6), torch.ones(3, 4, 6)])
    pseudo = [PixelData(labels=torch.full((1, 4, 6), v), scores=torch.full((1, 4, 6), 0.5 + v),
                        weights=torch.ones(1, 4, 6)) for v in (0, 1)]
    out_inputs, out = mix(inputs, pseudo)
    # Image 0 gets image 1's box and labels; image 1 gets image 0's.
    assert out_inputs[0, :, 1:3, 2:5].eq(1).all() and out_inputs[0].sum() == 3 * 2 * 3
    assert out[0].labels[0, 1:3, 2:5].eq(1).all() and out[0].labels.sum() == 6
    assert out[1].labels[0, 1:3, 2:5].eq(0).all() and out[0].scores[0, 1, 2] == 1.5
    # The inputs of the caller are left alone.
    assert inputs[0].sum() == 0 and pseudo[0].labels.sum() == 0


def test_seg_cutmix_box_area_in_range():
    from ssl_dense.models.tasks import SegCutMix
    mix = SegCutMix(area=(0.02, 0.4))
    torch.manual_seed(0)
    for _ in range(50):
        y1, x1, y2, x2 = mix.box(100, 120)
        assert 0 <= y1 < y2 <= 100 and 0 <= x1 < x2 <= 120
        assert 0.01 <= (y2 - y1) * (x2 - x1) / (100 * 120) <= 0.45


def test_seg_cutmix_box_area_is_a_share_of_each_image():
    """Pseudo-label maps of one batch can differ in size (views of small
    resized images are not padded): the box covers 2-40 % of the image it is
    pasted into, clipped where the partner is smaller."""
    from ssl_dense.models.tasks import SegCutMix
    mix = SegCutMix(prob=1.0)
    torch.manual_seed(0)
    inputs = torch.stack([torch.zeros(3, 16, 16), torch.ones(3, 16, 16)])
    shapes = [(16, 16), (16, 8)]  # image 1 is 16x8 plus padding
    pseudo = [PixelData(labels=torch.full((1, h, w), v), scores=torch.ones(1, h, w),
                        weights=torch.ones(1, h, w)) for v, (h, w) in enumerate(shapes)]
    shares = {0: [], 1: []}
    for _ in range(300):
        _, out = mix(inputs, pseudo)
        for i, (h, w) in enumerate(shapes):
            shares[i].append(float((out[i].labels[0] != i).float().mean()))
    # Image 1 takes boxes of its own size from the larger image 0.
    assert 0.01 <= min(shares[1]) and max(shares[1]) <= 0.45
    # Image 0's boxes are drawn on its 16x16 (up to 40 %: more than the 20 % a
    # box drawn on the 16x8 overlap could cover) and clipped to image 1.
    assert 0.22 < max(shares[0]) <= 0.45


def test_seg_cutmix_defaults_mix_about_half_the_images():
    """UniMatch's setting by default: p = 0.5 per image, boxes of 2-40 %."""
    from ssl_dense.models.tasks import SegCutMix
    mix = SegCutMix()
    assert mix.prob == 0.5 and mix.area == (0.02, 0.4)
    torch.manual_seed(0)
    inputs = torch.stack([torch.zeros(3, 16, 16), torch.ones(3, 16, 16)])
    pseudo = [PixelData(labels=torch.full((1, 16, 16), v), scores=torch.ones(1, 16, 16),
                        weights=torch.ones(1, 16, 16)) for v in (0, 1)]
    mixed = sum(int(mix(inputs, pseudo)[0][0].sum() > 0) for _ in range(200))
    assert 80 <= mixed <= 120  # binomial(200, 0.5): 100 +- 7


def test_class_balanced_pixel_sampler_weights():
    from ssl_dense.models.tasks import ClassBalancedPixelSampler
    # 6 pixels of class 0, 2 of class 1, 1 ignored (255); 3 classes.
    labels = torch.tensor([[[[0, 0, 0], [0, 0, 0], [1, 1, 255]]]])
    weights = ClassBalancedPixelSampler(power=1.0, max_weight=10).sample(
        torch.zeros(1, 3, 3, 3), labels)
    # Inverse frequency: class 1 weighs 3x class 0; mean over labelled pixels is 1.
    assert weights[0, 2, 2] == 0
    torch.testing.assert_close(weights[0, 2, 0] / weights[0, 0, 0], torch.tensor(3.0))
    torch.testing.assert_close(weights[labels[:, 0] != 255].mean(), torch.tensor(1.0))
    # The cap limits the rare class; power 0 is no weighting at all.
    capped = ClassBalancedPixelSampler(power=1.0, max_weight=2).sample(
        torch.zeros(1, 3, 3, 3), labels)
    torch.testing.assert_close(capped[0, 2, 0] / capped[0, 0, 0], torch.tensor(2.0))
    flat = ClassBalancedPixelSampler(power=0.0).sample(torch.zeros(1, 3, 3, 3), labels)
    assert flat[labels[:, 0] != 255].eq(1).all()
    with pytest.raises(ValueError, match='power >= 0'):
        ClassBalancedPixelSampler(power=-1.0)
    # No labelled pixel at all: zero weights, no division by zero.
    none = ClassBalancedPixelSampler().sample(torch.zeros(1, 3, 2, 2),
                                              torch.full((1, 1, 2, 2), 255))
    assert none.eq(0).all()


class _HeadSegmentor(torch.nn.Module):
    """A real mmseg decode head on the raw input, as EncoderDecoder.loss uses it."""

    def __init__(self):
        super().__init__()
        from mmengine.registry import DefaultScope
        from mmseg.models.decode_heads import FCNHead
        with DefaultScope.overwrite_default_scope('mmseg'):  # its loss is an mmseg module
            self.decode_head = FCNHead(in_channels=3, channels=4, num_convs=1, num_classes=2,
                                       concat_input=False, dropout_ratio=0, ignore_index=255)
        self.auxiliary_head = None
        self.train_cfg = None

    def extract_feat(self, inputs):
        return [inputs]

    def _decode_head_forward_train(self, feats, samples):
        losses = self.decode_head.loss(feats, samples, self.train_cfg)
        return {f'decode.{k}': v for k, v in losses.items()}

    def loss(self, inputs, samples):
        return self._decode_head_forward_train([inputs], samples)


@pytest.mark.parametrize('scope', [None, 'ssl_dense', 'mmseg'])
def test_pseudo_pixel_sampler_weights_pseudo_loss_only(scope):
    from mmengine.registry import DefaultScope
    torch.manual_seed(0)
    student = _HeadSegmentor()
    inputs = torch.randn(1, 3, 4, 4)
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[0, 0, :2] = 1  # 2 pixels of class 1, 14 of class 0
    moved = [PixelData(labels=labels.clone())]
    samples = [_sample(np.eye(3), (4, 4))]
    plain = SegmentationAdapter().unsupervised_loss(student, inputs, samples, moved)
    # Built whatever the caller's default scope.
    with DefaultScope.overwrite_default_scope(scope):
        adapter = SegmentationAdapter(pseudo_pixel_sampler=dict(
            type='ClassBalancedPixelSampler', power=1.0, max_weight=100))
    balanced = adapter.unsupervised_loss(student, inputs, samples, moved)
    # Same as a per-pixel cross-entropy weighted 7:1 towards the rare class.
    logits = student.decode_head([inputs])
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction='none')
    w = torch.where(labels == 1, 7.0, 1.0)
    expected = (ce * w * (16 / w.sum())).mean()
    torch.testing.assert_close(balanced['decode.loss_ce'], expected)
    torch.testing.assert_close(plain['decode.loss_ce'], ce.mean())
    # The head's own sampler (used by the labeled loss) is restored.
    assert student.decode_head.sampler is None


class _NeckSegmentor(_HeadSegmentor):
    """Backbone (identity) and neck (records what it is given) before the head."""

    with_neck = True

    def __init__(self):
        super().__init__()
        self.neck_inputs = []

    def backbone(self, inputs):
        return [inputs]

    def neck(self, feats):
        self.neck_inputs.append(feats[0])
        return [f + 1.0 for f in feats]

    def extract_feat(self, inputs):
        return self.neck(self.backbone(inputs))


@pytest.mark.parametrize('at', ['neck', 'backbone'])
def test_feature_perturbation_drops_channels_where_asked(at):
    """FP at the backbone: the neck sees the dropped features (UniMatch's
    placement); at the neck: the neck sees the clean ones and the head the
    dropped ones."""
    torch.manual_seed(0)
    student = _NeckSegmentor()
    inputs = torch.randn(1, 3, 4, 4)
    pseudo = [PixelData(labels=torch.zeros(1, 4, 4, dtype=torch.long),
                        weights=torch.ones(1, 4, 4))]
    adapter = SegmentationAdapter(feature_perturbation=dict(p=1.0, weight=0.5, at=at))
    losses = adapter.weak_view_loss(student, inputs, [_sample(np.eye(3), (4, 4))], pseudo)
    assert torch.isfinite(losses['fp_decode.loss_ce'])
    (seen, ) = student.neck_inputs
    assert seen.eq(0).all() if at == 'backbone' else torch.equal(seen, inputs)
    with pytest.raises(ValueError, match="'neck' or 'backbone'"):
        SegmentationAdapter(feature_perturbation=dict(p=0.5, at='head'))


def test_views_with_their_own_resize_get_aligned_pseudo_labels():
    """The CamVid recipe's geometric transforms (random resize, crop, flip)
    record the resize in ``homography_matrix`` under the mmseg scope, so the
    weak view's labels moved to a strong view resized differently match the
    strong view's own labels (nearest-neighbour resampling aside)."""
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from tests.conftest import REPO_ROOT
    geometric = Config.fromfile(f'{REPO_ROOT}/configs/_base_/semi/mean-teacher_camvid-1-8.py'
                                ).geometric
    pack = dict(type='PackSegInputs', meta_keys=('img_path', 'img_shape', 'scale_factor', 'flip',
                                                 'homography_matrix'))
    views = {name: [*geometric, pack] for name in ('unsup_weak', 'unsup_strong')}
    np.random.seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipeline = Compose([
            dict(type='LoadImageFromFile'),
            dict(type='ssl_dense.LoadSegAnnotationsChecked', num_classes=11, ignore_index=11),
            dict(type='ssl_dense.MultiView', branches=list(views), views=views)])
        root = f'{REPO_ROOT}/tests/data/camvid'
        names = ['0001TP_006690', '0001TP_006720', '0001TP_006750', '0001TP_006780'] * 2
        results = [pipeline(dict(img_path=f'{root}/train/{n}.jpg', reduce_zero_label=False,
                                 seg_map_path=f'{root}/trainannot/{n}.png', seg_fields=[]))
                   for n in names]
    weak = [r['data_samples']['unsup_weak'] for r in results]
    strong = [r['data_samples']['unsup_strong'] for r in results]
    assert any(abs(w.scale_factor[0] - s.scale_factor[0]) > 0.05 for w, s in zip(weak, strong))
    pseudo = []
    for sample in weak:
        gt = sample.gt_sem_seg.data[0].long()
        known = (gt < 11).float()
        pseudo.append(PixelData(labels=gt[None], scores=known[None], weights=known[None]))
    agree = total = 0
    for moved, sample in zip(SegmentationAdapter().transfer(pseudo, weak, strong), strong):
        truth = sample.gt_sem_seg.data[0].long()
        both = (moved.labels[0] >= 0) & (truth < 11)
        agree += int((moved.labels[0][both] == truth[both]).sum())
        total += int(both.sum())
    assert total > 10000 and agree / total > 0.95


def test_a_resize_without_homography_is_named():
    from ssl_dense.models.semi.adapter import homography_of
    sample = SegDataSample()
    sample.set_metainfo(dict(img_path='data/camvid/train/x.png', scale_factor=(0.7, 0.7),
                             homography_matrix=np.array([[-1., 0, 90], [0, 1, -4], [0, 0, 1]])))
    with pytest.raises(ValueError, match=r"x.png: the view was resized .*resize_type='mmdet"):
        homography_of(sample, torch.zeros(1))
    sample.set_metainfo(dict(homography_matrix=np.diag([-0.7, 0.7, 1.0])))
    assert homography_of(sample, torch.zeros(1))[0, 0] == pytest.approx(-0.7)


def _semi_segmentor(segmentor=None, decode_head=None, threshold=None):
    """The CamVid mean-teacher model (random weights) with fields of its
    segmentor, of its decode head or its threshold policy changed."""
    from mmengine.config import Config

    from ssl_dense.registry import MODELS
    from tests.conftest import REPO_ROOT
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/mean_teacher_seg/'
                          'mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py').model
    cfg.model.backbone.pop('init_cfg', None)
    cfg.model.decode_head.update(decode_head or {})
    for key, value in (segmentor or {}).items():
        cfg.model[key] = value
    if threshold:
        cfg.threshold = threshold
    return MODELS.build(cfg)


def _unlabeled_samples(shapes, pad=(64, 64)):
    samples = []
    for h, w in shapes:
        sample = SegDataSample()
        sample.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=pad,
                                 homography_matrix=np.eye(3, dtype=np.float32)))
        samples.append(sample)
    return samples


@pytest.mark.parametrize('bias, label', [(5.0, 1), (-5.0, 0)])
def test_binary_head_pseudo_labels_follow_its_sigmoid(bias, label):
    """A binary mmseg head (out_channels=1, sigmoid) gives classes [1 - p, p]:
    a softmax over its one channel would label every pixel 0 with score 1."""
    model = _semi_segmentor(decode_head=dict(
        out_channels=1, num_classes=2, threshold=0.5,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))
    model.eval()
    with torch.no_grad():
        model.teacher.decode_head.conv_seg.weight.zero_()
        model.teacher.decode_head.conv_seg.bias.fill_(bias)
    samples = _unlabeled_samples([(64, 64)] * 2)
    pseudo = model.adapter.pseudo_labels(model.teacher, torch.randn(2, 3, 64, 64), samples,
                                         FixedThreshold(2, thr=0.95))
    assert pseudo[0].labels.unique().tolist() == [label]
    assert pseudo[0].scores.min() == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item())
    assert pseudo[0].weights.eq(1).all()


def test_teacher_probabilities_do_not_depend_on_the_first_image_of_the_batch():
    """In training, mmseg's data preprocessor gives each sample its unpadded
    ``img_shape`` as a torch.Size, and predict_by_feat resizes the whole batch
    to the first one's; pseudo labels are made at the padded size, whatever
    the order."""
    torch.manual_seed(0)
    model = _semi_segmentor()
    model.eval()
    big, small = torch.randn(3, 64, 64), torch.randn(3, 64, 64)
    small[:, 48:] = 0
    small[:, :, 40:] = 0  # padding of a 48x40 image

    def samples(shapes):
        out = _unlabeled_samples(shapes)
        for sample, shape in zip(out, shapes):
            sample.set_metainfo(dict(img_shape=torch.Size(shape)))
        return out

    first = model.adapter.predict_probs(model.teacher, torch.stack([big, small]),
                                        samples([(64, 64), (48, 40)]))
    second = model.adapter.predict_probs(model.teacher, torch.stack([small, big]),
                                         samples([(48, 40), (64, 64)]))
    assert first.shape == (2, 11, 64, 64)
    torch.testing.assert_close(first[0], second[1])
    torch.testing.assert_close(first[1], second[0])


@pytest.mark.parametrize('threshold', [None, dict(type='FixedThreshold', thr=0.0,
                                                  num_classes=11)])
def test_cascade_segmentor_learns_pseudo_labels_in_every_head(threshold):
    """CascadeEncoderDecoder (OCRNet-style, a list of decode heads): class count
    and ignore value come from the last head, and the unlabelled losses,
    feature perturbation included, run through every head."""
    import copy

    from mmengine.structures import PixelData
    common = dict(in_channels=64, in_index=3, channels=16, dropout_ratio=0.1, num_classes=11,
                  ignore_index=11, norm_cfg=dict(type='BN', requires_grad=True),
                  align_corners=False)
    heads = [dict(common, type='FCNHead', num_convs=1, concat_input=False,
                  loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
             dict(common, type='OCRHead', ocr_channels=16,
                  loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))]
    model = _semi_segmentor(segmentor=dict(type='CascadeEncoderDecoder', num_stages=2,
                                           decode_head=heads), threshold=threshold)
    assert model.threshold.num_classes == 11
    assert model.adapter.ignore_index(model.student) == 11
    model.adapter.feature_perturbation = dict(p=0.5, weight=0.5)
    model.unsup_weight = 1.0
    torch.manual_seed(0)
    labeled = _unlabeled_samples([(64, 64)] * 2)
    for sample in labeled:
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 12, (1, 64, 64)))
    weak = _unlabeled_samples([(64, 64)] * 2)
    images = torch.randn(2, 3, 64, 64)
    inputs = dict(sup=images, unsup_weak=images.clone(), unsup_strong=images.clone())
    samples = dict(sup=labeled, unsup_weak=weak, unsup_strong=copy.deepcopy(weak))
    model.train()
    with torch.no_grad():
        model.threshold.thr.fill_(0.0)  # every pixel a pseudo label
        model.threshold.low.fill_(0.0)
    losses = model.loss(inputs, samples)
    for key in ('unsup_decode_0.loss_ce', 'unsup_decode_1.loss_ce',
                'unsup_fp_decode_0.loss_ce', 'unsup_fp_decode_1.loss_ce'):
        assert torch.isfinite(losses[key]) and losses[key] > 0, key
