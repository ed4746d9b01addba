"""Pseudo-label threshold policies: golden values, learning, state round-trip."""
import pytest
import torch

from ssl_dense.models.semi import (AdaptiveThreshold, DualThreshold, FixedThreshold,
                                   GMMThreshold, gmm_1d_threshold, kmeans_1d)
from ssl_dense.registry import THRESHOLDS


def test_registered_by_name():
    for name in ('FixedThreshold', 'AdaptiveThreshold', 'DualThreshold', 'GMMThreshold'):
        policy = THRESHOLDS.build(dict(type=name, num_classes=3))
        assert policy.thresholds().shape == (3, )


def test_fixed_per_class():
    policy = FixedThreshold(3, thr=[0.5, 0.9, 0.7])
    weights = policy(torch.tensor([0.6, 0.6, 0.95, 0.7]), torch.tensor([0, 1, 1, 2]))
    assert weights.tolist() == [1.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match='thr must be'):
        FixedThreshold(3, thr=[0.5, 0.9])
    with pytest.raises(ValueError, match=r'labels must be in \[0, 2\]'):
        policy(torch.tensor([0.5]), torch.tensor([3]))
    # Logs and tools print the policy: its thresholds show.
    assert repr(policy) == 'FixedThreshold(num_classes=3, thr=[0.5, 0.9, 0.7])'
    assert repr(FixedThreshold(2, thr=0.95, low=0.5)) == \
        'FixedThreshold(num_classes=2, thr=0.95, low=0.5)'


def test_fixed_soft_band_and_old_checkpoints():
    policy = FixedThreshold(2, thr=0.5, low=0.2)
    weights = policy(torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0, 1, 1]))
    assert weights.tolist() == pytest.approx([1.0, 0.3, 0.0])
    with pytest.raises(ValueError, match='low must not exceed thr'):
        FixedThreshold(2, thr=0.5, low=0.7)
    # A checkpoint from before the band existed loads as "no band".
    old = FixedThreshold(2, thr=0.4)
    state = {'thr': old.thr.clone()}
    policy.load_state_dict(state)
    assert policy(torch.tensor([0.3]), torch.tensor([0])).tolist() == [0.0]


def test_empty_input_gives_empty_weights():
    for policy in (FixedThreshold(2), AdaptiveThreshold(2), DualThreshold(2), GMMThreshold(2)):
        empty = torch.zeros(0)
        labels = torch.zeros(0, dtype=torch.long)
        policy.update(empty, labels)
        policy.update_labeled(empty, labels)
        assert policy(empty, labels).shape == (0, )


def test_adaptive_follows_class_confidence():
    policy = AdaptiveThreshold(2, init_thr=0.7, momentum=0.5, floor=0.1, min_thr=0.3,
                               max_thr=0.95)
    # Class 0 mean 0.9; class 1 mean 0.4; the 0.05 score is below the floor.
    policy.update(torch.tensor([0.8, 1.0, 0.4, 0.05]), torch.tensor([0, 0, 1, 1]))
    assert policy.thresholds().tolist() == pytest.approx([0.9, 0.4])
    policy.update(torch.tensor([0.5]), torch.tensor([0]))  # 0.5 * 0.9 + 0.5 * 0.5
    assert policy.thresholds().tolist() == pytest.approx([0.7, 0.4])
    policy.update(torch.tensor([0.11]), torch.tensor([1]))  # clamped at min_thr
    assert policy.thresholds()[1].item() == pytest.approx(0.3)


def test_kmeans_golden_values():
    high, low = kmeans_1d(torch.tensor([0.1, 0.2, 0.3, 0.8, 0.9, 1.0]))
    assert (high, low) == (pytest.approx(0.9), pytest.approx(0.2))


def test_dual_threshold_learns_from_labeled_scores():
    policy = DualThreshold(1, init_high=0.7, init_low=0.3, min_samples=6, update_interval=1)
    policy.update_labeled(torch.tensor([0.1, 0.2, 0.3, 0.8, 0.9, 1.0]), torch.zeros(6).long())
    assert policy.high.item() == pytest.approx(0.9)
    assert policy.low.item() == pytest.approx(0.2)
    weights = policy(torch.tensor([0.95, 0.5, 0.1]), torch.zeros(3).long())
    assert weights.tolist() == pytest.approx([1.0, 0.5, 0.0])


def test_dual_threshold_waits_for_enough_samples():
    policy = DualThreshold(2, min_samples=10, update_interval=1)
    policy.update_labeled(torch.tensor([0.9, 0.1]), torch.tensor([0, 0]))
    assert policy.high.tolist() == pytest.approx([0.7, 0.7])
    assert policy.low.tolist() == pytest.approx([0.3, 0.3])


def test_gmm_threshold_separates_two_modes():
    torch.manual_seed(0)
    noise = torch.rand(300) * 0.3          # 0.0 - 0.3
    objects = 0.75 + torch.rand(100) * 0.2  # 0.75 - 0.95
    thr = gmm_1d_threshold(torch.cat([noise, objects]))
    assert 0.3 < thr <= 0.76
    policy = GMMThreshold(1, capacity=400, floor=0.0, min_samples=20)
    policy.update(torch.cat([noise, objects]), torch.zeros(400).long())
    assert policy.thresholds().item() == pytest.approx(thr)
    assert policy(torch.tensor([0.2, 0.9]), torch.zeros(2).long()).tolist() == [0.0, 1.0]


def test_gmm_keeps_last_scores_only():
    policy = GMMThreshold(1, capacity=4, floor=0.0, min_samples=100)
    policy.update(torch.tensor([0.1, 0.2, 0.3]), torch.zeros(3).long())
    policy.update(torch.tensor([0.4, 0.5]), torch.zeros(2).long())
    assert sorted(policy._scores_of(0).tolist()) == pytest.approx([0.2, 0.3, 0.4, 0.5])


def test_gmm_bank_samples_a_large_update_instead_of_keeping_its_tail():
    """Detectors return boxes sorted by score: an update with more boxes than
    the bank holds must not keep only its lowest (noise) scores, or the
    threshold falls to its floor and noise becomes pseudo labels."""
    torch.manual_seed(0)
    objects = 0.6 + torch.rand(4 * 25) * 0.35  # 4 images, 25 objects each
    noise = 0.05 + torch.rand(4 * 150) * 0.25
    sorted_batch = torch.cat([objects, noise]).sort(descending=True).values
    policy = GMMThreshold(1)  # capacity 100, as Consistent-Teacher
    policy.update(sorted_batch, torch.zeros(len(sorted_batch)).long())
    banked = policy._scores_of(0)
    assert len(banked) == 100 and banked.max() > 0.9 and banked.min() < 0.1
    assert 0.12 < (banked >= 0.6).float().mean() < 0.16  # 100 of 700
    assert policy.thresholds().item() > 0.3
    shuffled = GMMThreshold(1)
    shuffled.update(sorted_batch[torch.randperm(len(sorted_batch))],
                    torch.zeros(len(sorted_batch)).long())
    assert policy.thresholds().item() == pytest.approx(shuffled.thresholds().item())


@pytest.mark.parametrize('cls', [AdaptiveThreshold, DualThreshold, GMMThreshold])
def test_state_dict_round_trip(cls):
    torch.manual_seed(1)
    policy = cls(3)
    for _ in range(12):
        scores, labels = torch.rand(50), torch.randint(0, 3, (50, ))
        policy.update(scores, labels)
        policy.update_labeled(scores, labels)
    restored = cls(3)
    restored.load_state_dict(policy.state_dict())
    assert torch.equal(restored.thresholds(), policy.thresholds())
    probe_scores, probe_labels = torch.rand(20), torch.randint(0, 3, (20, ))
    assert torch.equal(restored(probe_scores, probe_labels), policy(probe_scores, probe_labels))


def test_entropy_percentile_drops_a_shrinking_share():
    from mmengine.logging import MessageHub

    from ssl_dense.models.semi import EntropyPercentileThreshold
    MessageHub.get_instance('u2pl_outside_a_runner')  # current hub: no iteration known
    policy = EntropyPercentileThreshold(2, max_iters=4, start_percent=20.0)
    assert policy.score_type == 'certainty'
    scores = (torch.arange(100) + 0.5) / 100
    labels = torch.zeros(100, dtype=torch.long)
    kept = []
    for _ in range(5):
        policy.update(scores, labels)
        kept.append(int(policy(scores, labels).sum()))
    # 20 %, 15 %, 10 %, 5 %, then 0 % of 100 scores dropped.
    assert kept == [80, 85, 90, 95, 100]
    state = policy.state_dict()
    again = EntropyPercentileThreshold(2, max_iters=4)
    again.load_state_dict(state)
    assert again.drop_percent() == 0.0


def test_entropy_percentile_schedule_follows_the_training_iteration():
    """In a runner, U2PL's t is the training iteration: updates that start
    after a burn-in still come down to 0.01 % dropped at the last iteration
    (counting updates instead, they would end at 3 %)."""
    from mmengine.logging import MessageHub

    from ssl_dense.models.semi import EntropyPercentileThreshold
    hub = MessageHub.get_instance('u2pl_in_a_runner')
    policy = EntropyPercentileThreshold(2, max_iters=2000, start_percent=20.0)
    scores = (torch.arange(100) + 0.5) / 100
    labels = torch.zeros(100, dtype=torch.long)
    kept = {}
    for it in (300, 1000, 1999):  # the first update comes after 300 burn-in iterations
        hub.update_info('iter', it)
        policy.update(scores, labels)
        kept[it] = int(policy(scores, labels).sum())
    assert kept == {300: 83, 1000: 90, 1999: 99}  # 0.01 % of 100 scores: the lowest
    assert policy.drop_percent() == pytest.approx(20.0 * (1 - 1999 / 2000))


def test_global_max_threshold_follows_the_classes_best_scores():
    from ssl_dense.models.semi import GlobalMaxThreshold
    policy = GlobalMaxThreshold(3, init_thr=0.85, momentum=0.5)
    scores = torch.tensor([0.2, 0.9, 0.5, 0.7])
    labels = torch.tensor([0, 0, 1, 1])  # class maxima 0.9 and 0.7; class 2 absent
    policy.update(scores, labels)
    assert policy.thresholds().tolist() == pytest.approx([0.825] * 3)
    assert policy(scores, labels).tolist() == [0.0, 1.0, 0.0, 0.0]


def test_detection_refuses_a_policy_that_needs_entropies():
    from mmengine.config import Config

    from ssl_dense.registry import MODELS
    cfg = Config.fromfile('configs/mean_teacher/'
                          'mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py')
    cfg.model.model.backbone.init_cfg = None
    cfg.model.threshold = dict(type='EntropyPercentileThreshold', max_iters=10)
    with pytest.raises(ValueError, match="needs 'certainty' scores, which DetectionAdapter"):
        MODELS.build(cfg.model)


def test_entropy_percentile_takes_T_from_the_runner():
    """Without max_iters, T is the runner's max_iters: a schedule stretched
    from the command line stretches the dropped share with it."""
    from mmengine.logging import MessageHub

    from ssl_dense.models.semi import EntropyPercentileThreshold
    hub = MessageHub.get_instance('u2pl_runner_max_iters')
    policy = EntropyPercentileThreshold(2, start_percent=20.0)
    hub.update_info('iter', 2000)
    hub.update_info('max_iters', 4000)
    assert policy.drop_percent() == pytest.approx(10.0)
    MessageHub.get_instance('u2pl_no_runner')  # current hub: neither iter nor max_iters
    with pytest.raises(RuntimeError, match='pass max_iters'):
        EntropyPercentileThreshold(2).drop_percent()


def _adaptive_update_on_rank(rank, port, out_dir):
    import torch.distributed as dist

    from ssl_dense.models.semi import AdaptiveThreshold, DistributionAlignedThreshold
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=2)
    try:
        count = 3 if rank == 0 else 7  # teachers keep different numbers of predictions
        policy = AdaptiveThreshold(num_classes=3, floor=0.0)
        policy.update(torch.full((count, ), 0.9 if rank == 0 else 0.3),
                      torch.zeros(count, dtype=torch.long))
        torch.save(policy.ema, f'{out_dir}/ema{rank}.pt')
        # Class shares count the labeled pixels of every rank.
        aligned = DistributionAlignedThreshold(3)
        aligned.update_gt(torch.tensor([0, 0, 1] if rank == 0 else [2]))
        torch.save(aligned.gt_counts, f'{out_dir}/gt{rank}.pt')
    finally:
        dist.destroy_process_group()


def test_policies_pool_unequal_prediction_counts_across_ranks(tmp_path):
    """Under DDP every rank's teacher keeps its own number of predictions; the
    policies pool them all (all_gather needs equal sizes: padded, cut back)."""
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    mp.spawn(_adaptive_update_on_rank, args=(port, str(tmp_path)), nprocs=2)
    emas = [torch.load(tmp_path / f'ema{r}.pt') for r in (0, 1)]
    assert torch.equal(emas[0], emas[1])
    fresh = AdaptiveThreshold(num_classes=3, floor=0.0)
    fresh.update(torch.tensor([0.9] * 3 + [0.3] * 7), torch.zeros(10, dtype=torch.long))
    torch.testing.assert_close(emas[0], fresh.ema)
    for rank in (0, 1):
        assert torch.load(tmp_path / f'gt{rank}.pt').tolist() == [2.0, 1.0, 1.0]


def test_distribution_aligned_shares_the_budget_as_labeled_classes_are_shared():
    from ssl_dense.models.semi import DistributionAlignedThreshold
    policy = DistributionAlignedThreshold(3, base_thr=0.9, min_thr=0.3, momentum=0.0)
    scores = torch.tensor([0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.915,  # class 0
                           0.6, 0.5, 0.4,  # class 1: never above base_thr
                           0.91, 0.8, 0.7, 0.2])  # class 2
    labels = torch.tensor([0] * 9 + [1] * 3 + [2] * 4)
    # Before any labeled ground truth: base_thr for all, and updates wait.
    policy.update(scores, labels)
    assert policy.thresholds().tolist() == pytest.approx([0.9] * 3)
    policy.update_gt(torch.tensor([0] * 6 + [1] * 2 + [2] * 2))  # shares 0.6 / 0.2 / 0.2
    policy.update(scores, labels)
    # Budget: 10 scores >= 0.9, so 6 / 2 / 2 pixels: the 6th, 2nd and 2nd best.
    assert policy.thresholds().tolist() == pytest.approx([0.94, 0.5, 0.8])
    kept = policy(scores, labels)
    assert kept.tolist() == [1.0] * 6 + [0.0] * 3 + [1.0, 1.0, 0.0] + [1.0, 1.0, 0.0, 0.0]
    # A fixed 0.9 keeps as many pixels, but none of class 1.
    assert kept.sum() == (scores >= 0.9).sum()


def test_distribution_aligned_bounds_smoothing_and_state():
    from ssl_dense.models.semi import DistributionAlignedThreshold
    policy = DistributionAlignedThreshold(3, base_thr=0.9, min_thr=0.3, max_thr=0.99,
                                          momentum=0.5)
    policy.update_gt(torch.tensor([0, 0, 1, 1]))  # class 2 has no labeled pixel
    policy.update(torch.tensor([0.95, 0.95, 0.95, 0.95, 0.2, 0.97]),
                  torch.tensor([0, 0, 0, 0, 1, 2]))
    # Class 1 wants 2 of the 5 but is predicted once: min_thr; class 2 gets
    # nothing of the budget: max_thr; the first batch of a class sets it.
    assert policy.thresholds().tolist() == pytest.approx([0.95, 0.3, 0.99])
    policy.update(torch.tensor([0.99, 0.99, 0.99, 0.99]), torch.tensor([0, 0, 0, 0]))
    # Only class 0 is predicted: it moves half-way to 0.99, the others stay.
    assert policy.thresholds().tolist() == pytest.approx([0.97, 0.3, 0.99])
    restored = DistributionAlignedThreshold(3, base_thr=0.9, min_thr=0.3, max_thr=0.99)
    restored.load_state_dict(policy.state_dict())
    assert torch.equal(restored.thresholds(), policy.thresholds())
    assert torch.equal(restored.class_shares(), policy.class_shares())
    # Fixed shares ignore ground truth.
    fixed = DistributionAlignedThreshold(2, class_shares=[3, 1])
    fixed.update_gt(torch.tensor([1, 1, 1]))
    assert fixed.class_shares().tolist() == pytest.approx([0.75, 0.25])
    with pytest.raises(ValueError, match='class_shares must be 2 non-negative'):
        DistributionAlignedThreshold(2, class_shares=[1, 1, 1])
    with pytest.raises(ValueError, match=r'ground-truth labels must be in \[0, 2\]'):
        policy.update_gt(torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='min_thr <= base_thr'):
        DistributionAlignedThreshold(2, base_thr=0.4, min_thr=0.5)


def test_a_policy_that_learns_from_gt_classes_needs_an_adapter_that_gives_them():
    from mmengine.config import Config

    from ssl_dense.registry import MODELS
    cfg = Config.fromfile('configs/mean_teacher/'
                          'mean-teacher_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py')
    cfg.model.model.backbone.init_cfg = None
    cfg.model.threshold = dict(type='DistributionAlignedThreshold')
    with pytest.raises(ValueError, match='DetectionAdapter does not give'):
        MODELS.build(cfg.model)
