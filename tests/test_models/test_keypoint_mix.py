"""KeypointMix: patches move with their heatmaps, same keypoint onto same keypoint."""
import pytest
import torch
from mmengine.structures import InstanceData

from ssl_dense.models.tasks import KeypointMix
from ssl_dense.registry import MODELS

STRIDE = 4


def _gaussians(points, shape, sigma=1.5):
    """Heatmaps (J, h, w) with a peak at each (x, y) given in input pixels,
    cell c centred on pixel c * STRIDE as in mmpose's MSRAHeatmap codec."""
    h, w = shape
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing='ij')
    maps = [torch.exp(-((xs - x / STRIDE)**2 + (ys - y / STRIDE)**2) /
                      (2 * sigma**2)) for x, y in points]
    return torch.stack(maps)


def _batch():
    """Two samples of 3 keypoints on 64 x 64 inputs (heatmaps 16 x 16); each
    image is a constant colour, so pasted pixels are recognisable."""
    points = [[(12., 12.), (40., 20.), (52., 52.)], [(30., 30.), (8., 48.), (20., 8.)]]
    inputs = torch.stack([torch.full((3, 64, 64), 0.), torch.full((3, 64, 64), 1.)])
    pseudo = [InstanceData(keypoints=torch.tensor(p), keypoint_weights=torch.ones(3),
                           heatmaps=_gaussians(p, (16, 16))) for p in points]
    return inputs, pseudo


def _peak(heatmap):
    """(x, y) in input pixels of the centre of the arg-max cell."""
    idx = int(heatmap.flatten().argmax())
    return (idx % heatmap.shape[1]) * STRIDE, (idx // heatmap.shape[1]) * STRIDE


def test_the_test_heatmaps_peak_where_mmposes_codec_puts_them():
    from mmpose.codecs import MSRAHeatmap
    codec = MSRAHeatmap(input_size=(64, 64), heatmap_size=(16, 16), sigma=2)
    points = [(12., 12.), (40., 20.), (9., 47.), (62., 62.)]
    encoded = codec.encode(torch.tensor([points]).numpy())['heatmaps']
    ours = _gaussians(points, (16, 16))
    for k in range(len(points)):
        assert _peak(torch.as_tensor(encoded[k])) == _peak(ours[k])


def test_prob_zero_changes_nothing_and_inputs_are_not_modified():
    inputs, pseudo = _batch()
    before = inputs.clone(), [p.heatmaps.clone() for p in pseudo]
    out_inputs, out = KeypointMix(prob=0.0)(inputs, pseudo)
    assert torch.equal(out_inputs, inputs)
    assert all(torch.equal(a.heatmaps, b.heatmaps) for a, b in zip(out, pseudo))
    out_inputs, out = KeypointMix(prob=1.0, num_keypoints=3)(inputs, pseudo)
    assert torch.equal(inputs, before[0])
    assert all(torch.equal(p.heatmaps, h) for p, h in zip(pseudo, before[1]))


def test_the_partner_patch_lands_on_the_same_keypoint_with_its_heatmap():
    torch.manual_seed(0)
    inputs, pseudo = _batch()
    pseudo[0].keypoint_weights = torch.tensor([0., 1., 0.])  # only keypoint 1 is shared
    mix = KeypointMix(num_keypoints=1, patch_size=16, prob=1.0)
    out_inputs, out = mix(inputs, pseudo)
    # Sample 0, keypoint 1 at (40, 20) (cell 10, 5): the pixels of the 4 x 4
    # cells around it, (8-11, 3-6), i.e. x 30-45, y 10-25, now show sample 1,
    # but for x 30-31: the partner's keypoint (8, 48) sits in its cell 2, and
    # its cell 0 begins 2 pixels left of its image.
    assert out_inputs[0, :, 10:26, 32:46].eq(1.).all()
    assert out_inputs[0].eq(1.).sum() == 3 * 16 * 14  # nothing else was pasted
    # Keypoint 1 of the pasted heatmaps still peaks at sample 0's location.
    x, y = _peak(out[0].heatmaps[1])
    assert abs(x - 40) <= STRIDE / 2 and abs(y - 20) <= STRIDE / 2
    # Outside the patch (in heatmap cells 3:7 x 8:12) sample 0's heatmaps are kept.
    keep = torch.ones(16, 16, dtype=torch.bool)
    keep[3:7, 8:12] = False
    assert torch.equal(out[0].heatmaps[:, keep], pseudo[0].heatmaps[:, keep])
    assert torch.equal(out[0].heatmaps[:, ~keep],
                       pseudo[1].heatmaps[:, 10:14, 0:4].flatten(1))
    # Sample 1 took keypoint 1 from sample 0 (the only shared one, cyclic partner).
    assert out_inputs[1].eq(0.).sum() == 3 * 16 * 14


def test_reviewer_heatmaps_are_mixed_with_the_teachers():
    torch.manual_seed(0)
    inputs, pseudo = _batch()
    pseudo[0].keypoint_weights = torch.tensor([0., 1., 0.])
    for i, p in enumerate(pseudo):  # the reviewers' own maps: not the teacher's
        p.reviewer_heatmaps = torch.rand(3, 16, 16) + 10 * i
    _, out = KeypointMix(num_keypoints=1, patch_size=16, prob=1.0)(inputs, pseudo)
    patch = torch.zeros(16, 16, dtype=torch.bool)
    patch[3:7, 8:12] = True  # the same cells as the teacher heatmaps' patch
    assert torch.equal(out[0].reviewer_heatmaps[:, ~patch], pseudo[0].reviewer_heatmaps[:, ~patch])
    assert torch.equal(out[0].reviewer_heatmaps[:, patch],
                       pseudo[1].reviewer_heatmaps[:, 10:14, 0:4].flatten(1))
    assert not torch.equal(out[0].heatmaps[:, patch], out[0].reviewer_heatmaps[:, patch])


def test_own_keypoint_under_the_patch_the_partner_lacks_loses_its_weight():
    torch.manual_seed(0)
    inputs, pseudo = _batch()
    # Sample 0: keypoint 2 moves next to keypoint 1 (inside the patch pasted
    # there); the partner (sample 1) does not carry keypoint 2.
    pseudo[0].keypoints[2] = torch.tensor([44., 24.])
    pseudo[0].heatmaps = _gaussians(pseudo[0].keypoints.tolist(), (16, 16))
    pseudo[0].keypoint_weights = torch.tensor([0., 1., 1.])
    pseudo[1].keypoint_weights = torch.tensor([1., 1., 0.])
    _, out = KeypointMix(num_keypoints=1, patch_size=16, prob=1.0)(inputs, pseudo)
    assert out[0].keypoint_weights.tolist() == [0., 1., 0.]
    assert pseudo[0].keypoint_weights.tolist() == [0., 1., 1.]  # input untouched
    # Both carry keypoint 1, so it keeps its weight (with the partner's peak).
    _, out = KeypointMix(num_keypoints=1, patch_size=16, prob=0.0)(inputs, pseudo)
    assert out[0].keypoint_weights.tolist() == [0., 1., 1.]


def _peaks_where_labelled(out):
    """Every kept keypoint's target has a peak (>0.85) in the cell of its stored
    location (a keypoint of the partner that came along with a patch may add
    a second one: the image shows two of that kind)."""
    for p in out:
        for k in p.keypoint_weights.nonzero().flatten().tolist():
            x, y = (p.keypoints[k] / STRIDE).round().long().tolist()
            assert p.heatmaps[k, y, x] > 0.85, (k, p.keypoints[k], p.heatmaps[k].max())


@pytest.mark.parametrize('seed', range(6))
def test_own_keypoint_under_the_patch_is_occluded_unless_the_patch_brings_its_kind(seed):
    torch.manual_seed(seed)
    inputs, pseudo = _batch()
    # Sample 0's keypoints 1 (40, 20) and 2 (44, 24) are neighbours, so the
    # patch pasted on either hides the other. The partner carries both, far
    # apart ((8, 48) and (20, 8)): the hidden one is occluded (its target would
    # be a Gaussian with a hole), whichever keypoint was mixed.
    pseudo[0].keypoints[2] = torch.tensor([44., 24.])
    pseudo[0].heatmaps = _gaussians(pseudo[0].keypoints.tolist(), (16, 16))
    pseudo[0].keypoint_weights = torch.tensor([0., 1., 1.])
    _, out = KeypointMix(num_keypoints=2, patch_size=16, prob=1.0)(inputs, pseudo)
    assert sorted(out[0].keypoint_weights.tolist()) == [0., 0., 1.]
    _peaks_where_labelled(out)
    # The partner's keypoint 2 now sits 4 pixels right of its keypoint 1,
    # inside the copied patch: the hidden keypoint becomes the pasted one,
    # moved with the patch, and its target peaks there.
    pseudo[1].keypoints[2] = torch.tensor([12., 48.])
    pseudo[1].heatmaps = _gaussians(pseudo[1].keypoints.tolist(), (16, 16))
    _, out = KeypointMix(num_keypoints=2, patch_size=16, prob=1.0)(inputs, pseudo)
    assert out[0].keypoint_weights.tolist() == [0., 1., 1.]
    assert (out[0].keypoints[1:] - torch.tensor([[40., 20.], [44., 24.]])).abs().max() == 4
    _peaks_where_labelled(out)
    assert pseudo[0].keypoints[2].tolist() == [44., 24.]  # input untouched


def test_only_keypoints_both_samples_carry_are_mixed():
    inputs, pseudo = _batch()
    pseudo[1].keypoint_weights = torch.zeros(3)
    out_inputs, out = KeypointMix(prob=1.0)(inputs, pseudo)
    assert torch.equal(out_inputs, inputs)


def test_patches_at_the_border_are_clipped():
    torch.manual_seed(1)
    inputs, pseudo = _batch()
    pseudo[0].keypoints[0] = torch.tensor([1., 1.])
    pseudo[1].keypoints[0] = torch.tensor([62., 62.])
    pseudo[0].heatmaps = _gaussians(pseudo[0].keypoints.tolist(), (16, 16))
    pseudo[1].heatmaps = _gaussians(pseudo[1].keypoints.tolist(), (16, 16))
    for p in pseudo:
        p.keypoint_weights = torch.tensor([1., 0., 0.])
    out_inputs, out = KeypointMix(num_keypoints=1, patch_size=24, prob=1.0)(inputs, pseudo)
    assert out_inputs.shape == inputs.shape and out[0].heatmaps.shape == (3, 16, 16)
    # The partner's keypoint sits in its bottom-right corner cell, so of the
    # 6 x 6-cell patch around it only that cell lies inside the partner's
    # heatmap; it lands on sample 0's top-left cell (pixels -2 to 1, of which
    # 0 and 1 exist), with its heatmap values.
    pasted = out_inputs[0, 0].eq(1.)
    assert pasted[:2, :2].all() and pasted.sum() == 4
    assert torch.equal(out[0].heatmaps[:, 0, 0], pseudo[1].heatmaps[:, 15, 15])
    assert torch.equal(out[0].heatmaps[:, 1:, :], pseudo[0].heatmaps[:, 1:, :])


def test_registered_and_checked():
    # Scoped name: another test may have left a different default scope.
    assert isinstance(MODELS.build(dict(type='ssl_dense.KeypointMix', num_keypoints=2)),
                      KeypointMix)
    with pytest.raises(ValueError, match='prob'):
        KeypointMix(prob=2.0)
    inputs, pseudo = _batch()
    with pytest.raises(ValueError, match='2 inputs but 1 pseudo'):
        KeypointMix()(inputs, pseudo[:1])
