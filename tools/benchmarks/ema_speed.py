"""Benchmark: our one-pass EMA update vs mmdet's MeanTeacherHook.momentum_update.

Each contender updates its own copy of the same teacher/student pair (a
RetinaNet with a ResNet-50 + FPN, about 38 M parameters, or the
EfficientNet-Lite0 RetinaNet of the BCCD configs with --model effl0): ours as
TeacherEMAHook runs it (flat buffers), ours per tensor (torch._foreach_lerp_)
and mmdet's hook. Each round calls all three, in every order equally often,
within one process; the median over rounds of ours / mmdet is reported, so
machine noise affects them alike (lower is better; the target is <= 0.7).

    python tools/benchmarks/ema_speed.py [--repeats 30] [--model r50|effl0]
"""
import argparse
import copy
import itertools
import statistics
import time

import torch
import torch.nn as nn

import ssl_dense  # noqa: F401
from ssl_dense.models.semi import TeacherEMA


def build_detector(kind: str) -> nn.Module:
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    backbone = dict(type='ResNet', depth=50, out_indices=(1, 2, 3)) if kind == 'r50' else dict(
        type='ssl_dense.EfficientNetLite', out_indices=(2, 4, 6))
    in_channels = [512, 1024, 2048] if kind == 'r50' else [40, 112, 320]
    cfg = dict(
        type='RetinaNet', backbone=backbone,
        data_preprocessor=dict(type='DetDataPreprocessor'),
        neck=dict(type='FPN', in_channels=in_channels, out_channels=256, start_level=0,
                  add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(type='RetinaHead', num_classes=80, in_channels=256, feat_channels=256,
                       anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                             scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                             strides=[8, 16, 32, 64, 128]),
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True),
                       loss_bbox=dict(type='L1Loss')))
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


class _Pair(nn.Module):

    def __init__(self, student: nn.Module) -> None:
        super().__init__()
        self.student = student
        self.teacher = copy.deepcopy(student).requires_grad_(False)


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--model', choices=['r50', 'effl0'], default='r50')
    args = parser.parse_args(argv)
    from mmdet.engine.hooks import MeanTeacherHook

    # One teacher/student pair per contender, so none shares memory with another.
    pairs = {name: _Pair(build_detector(args.model)) for name in ('ours', 'per_tensor', 'mmdet')}
    for pair in list(pairs.values())[1:]:
        pair.load_state_dict(pairs['ours'].state_dict())
    params = sum(p.numel() for p in pairs['ours'].student.parameters())
    mmdet_hook = MeanTeacherHook(momentum=0.001)  # its momentum = 1 - our keep rate
    # Ours as TeacherEMAHook runs it (flat buffers), and the per-tensor
    # foreach path for comparison; mmdet skips buffers, so both do too.
    ours = TeacherEMA(pairs['ours'].teacher, pairs['ours'].student, buffers='skip', flat=True)
    per_tensor = TeacherEMA(pairs['per_tensor'].teacher, pairs['per_tensor'].student,
                            buffers='skip', flat=False)
    calls = {'ours': lambda: ours.update(0.999), 'per_tensor': lambda: per_tensor.update(0.999),
             'mmdet': lambda: mmdet_hook.momentum_update(pairs['mmdet'], 0.001)}
    orders = list(itertools.permutations(calls))
    times = {name: [] for name in calls}
    for i in range(args.repeats + 3):
        for name in orders[i % len(orders)]:  # every order equally often
            start = time.perf_counter()
            calls[name]()
            if i >= 3:  # warm-up
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}

    def paired(name):
        # Median of the ratios of calls of the same round: they see the same
        # machine load, which matters on a shared machine.
        return statistics.median(o / m for o, m in zip(times[name], times['mmdet']))

    ratio = paired('ours')
    print(f'model: RetinaNet {args.model}, {params / 1e6:.1f} M parameters, '
          f'{args.repeats} rounds of one call each, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    print(f'median EMA update: ours {med["ours"] * 1e3:.2f} ms (flat buffers), ours per-tensor '
          f'{med["per_tensor"] * 1e3:.2f} ms, mmdet MeanTeacherHook {med["mmdet"] * 1e3:.2f} ms')
    print(f'per-tensor / mmdet: {paired("per_tensor"):.2f}')
    print(f'ratio ours / mmdet (median over rounds): {ratio:.2f}  (target <= 0.7)')
    return ratio


if __name__ == '__main__':
    main()
