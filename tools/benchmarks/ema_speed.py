"""Benchmark: our one-pass EMA update vs mmdet's MeanTeacherHook.momentum_update.

Both update the same teacher from the same student (a RetinaNet with a
ResNet-50 + FPN, about 38 M parameters, or the EfficientNet-Lite0 RetinaNet of
the BCCD configs with --model effl0). Calls alternate within one process and
the medians over --repeats calls are compared, so machine noise affects both
alike. Prints the ratio ours / mmdet (lower is better; the target is <= 0.7).

    python tools/benchmarks/ema_speed.py [--repeats 30] [--model r50|effl0]
"""
import argparse
import copy
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

    pair = _Pair(build_detector(args.model))
    params = sum(p.numel() for p in pair.student.parameters())
    mmdet_hook = MeanTeacherHook(momentum=0.001)  # its momentum = 1 - our keep rate
    ours = TeacherEMA(pair.teacher, pair.student, buffers='skip')  # mmdet skips buffers too
    times = {'ours': [], 'mmdet': []}
    for i in range(args.repeats + 3):
        for name in (('ours', 'mmdet') if i % 2 else ('mmdet', 'ours')):
            start = time.perf_counter()
            if name == 'ours':
                ours.update(0.999)
            else:
                mmdet_hook.momentum_update(pair, 0.001)
            if i >= 3:  # warm-up
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med['ours'] / med['mmdet']
    print(f'model: RetinaNet {args.model}, {params / 1e6:.1f} M parameters, '
          f'{args.repeats} alternating calls each, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    print(f'median EMA update: ours {med["ours"] * 1e3:.2f} ms, mmdet MeanTeacherHook '
          f'{med["mmdet"] * 1e3:.2f} ms')
    print(f'ratio ours / mmdet: {ratio:.2f}  (target <= 0.7)')
    return ratio


if __name__ == '__main__':
    main()
