"""How good are a segmentation teacher's pseudo labels? Per class, on labeled images.

Runs one model of a checkpoint (the teacher of a ``TeacherStudent``
checkpoint by default, or a plain segmentor) on images whose label maps are
known (e.g. the "unlabeled" part of a CamVid split: its labels exist but
training never reads them), at the test pipeline's scale, and compares the
pixels whose confidence passes ``--thr`` with the truth on the full-size
label maps. Prints the share of pixels kept, their precision, and per class:
precision of the pseudo labels of that class, the share of its pixels that
get any pseudo label, how many of them get a wrong one (and which class most
often), and the IoU of the plain argmax.

``--train-views N``: instead, N random unlabeled images go through the
config's *training* pipeline (weak and strong views, annotations loaded
alongside), and the checkpoint's ``TeacherStudent`` makes its pseudo labels
exactly as in training: the teacher on the weak view, the config's
threshold policy (with its saved state), moved to the strong view by the
adapter. They are compared with the strong view's own truth, so this also
checks the geometric transfer (batch augmentations such as CutMix are not
applied). ``--seed`` fixes the images and the views' random transforms.

    python tools/analysis/seg_pseudo_label_quality.py \\
        configs/mean_teacher_seg/mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py \\
        work_dirs/.../iter_1000.pth --ann-file splits/train.1-8.seed1.unlabeled.txt
"""
import argparse
import copy
import random

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.utils import ProgressBar

from mmengine.runner import load_checkpoint
from mmengine.structures import PixelData
from torch.utils.data import Subset

from ssl_dense.utils import register_all_modules


def _batches(dataset, batch_size: int):
    """Collated batches of ``dataset`` in order, with a progress bar."""
    bar = ProgressBar(len(dataset))
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        yield pseudo_collate(items)
        bar.update(len(items))


def _add_pairs(counts, predicted, true, use) -> None:
    """Add the (predicted, true) pixel pairs selected by ``use`` to ``counts`` (n, n)."""
    n = counts.shape[0]
    counts += torch.bincount((predicted[use] * n + true[use]).flatten(),
                             minlength=n * n).view(n, n).float()


def confusion(model, dataset, num_classes: int, thr: float, batch_size: int = 8):
    """(kept, all): num_classes x num_classes counts of (predicted, true) pixels,
    for pixels with confidence >= thr and for all labeled pixels."""
    n = num_classes
    kept = torch.zeros(n, n)
    every = torch.zeros(n, n)
    with torch.no_grad():
        for batch in _batches(dataset, batch_size):
            data = model.data_preprocessor(batch, False)
            samples = data['data_samples']
            logits = model.encode_decode(data['inputs'], [s.metainfo for s in samples])
            for k, sample in enumerate(samples):
                h, w = sample.metainfo['img_shape'][:2]
                probs = F.interpolate(logits[k:k + 1, :, :h, :w], size=sample.metainfo[
                    'ori_shape'][:2], mode='bilinear', align_corners=False)[0].softmax(0)
                score, label = probs.max(0)
                gt = sample.gt_sem_seg.data[0]
                known = gt < n
                _add_pairs(kept, label, gt, known & (score >= thr))
                _add_pairs(every, label, gt, known)
    return kept, every


def train_view_confusion(model, dataset, num_classes: int, batch_size: int = 8,
                         branches=('unsup_weak', 'unsup_strong')):
    """(kept, all) as :func:`confusion`, on the strong training views: the
    pseudo labels of a ``TeacherStudent`` (kept: weight 1 after the
    threshold; all: the teacher's argmax everywhere), moved to the strong
    view, against its truth."""
    n = num_classes
    kept = torch.zeros(n, n)
    every = torch.zeros(n, n)
    weak, strong = branches
    with torch.no_grad():
        for batch in _batches(dataset, batch_size):
            data = model.data_preprocessor(batch, True)
            inputs, samples = data['inputs'], data['data_samples']
            pseudo = model.adapter.pseudo_labels(model.teacher, inputs[weak], samples[weak],
                                                 model.threshold)
            every_label = [PixelData(labels=p.labels, scores=p.scores,
                                     weights=torch.ones_like(p.weights)) for p in pseudo]
            for moved, counts in ((pseudo, kept), (every_label, every)):
                moved = model.adapter.transfer(moved, samples[weak], samples[strong])
                for inst, sample in zip(moved, samples[strong]):
                    gt = sample.gt_sem_seg.data[0]
                    h, w = gt.shape
                    label = inst.labels[0, :h, :w]
                    _add_pairs(counts, label, gt, (gt < n) & (label >= 0))
    return kept, every


def train_view_dataset(cfg, num: int, seed: int):
    """``num`` random images of the unlabeled training set, through its
    training pipeline with their label maps loaded before the views split."""
    from mmseg.registry import DATASETS
    unlabeled = cfg.train_dataloader.dataset.get('unlabeled')
    labeled = cfg.train_dataloader.dataset.get('labeled')
    if unlabeled is None or labeled is None:
        raise KeyError(f'--train-views needs a semi-supervised config (train_dataloader.dataset '
                       f'with labeled and unlabeled parts); {cfg.filename} has none')
    data = copy.deepcopy(unlabeled)
    data.data_prefix = dict(labeled.data_prefix)  # where the label maps are
    loader = next((t for t in labeled.pipeline if 'LoadSegAnnotations' in t['type']
                   or 'LoadAnnotations' in t['type']), None)
    if loader is None:
        raise KeyError(f'{cfg.filename}: the labeled pipeline loads no annotations')
    data.pipeline = list(data.pipeline)
    data.pipeline.insert(1, copy.deepcopy(loader))
    # The parts are built in the scope of the semi dataset (mmseg's transforms).
    with DefaultScope.overwrite_default_scope(cfg.train_dataloader.dataset.get('_scope_', 'mmseg')):
        dataset = DATASETS.build(data)
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    order = torch.randperm(len(dataset))[:num].tolist()
    return Subset(dataset, order), dataset.metainfo


def report(kept, every, names, thr) -> str:
    precision = kept.diag() / kept.sum(1).clamp(min=1)
    covered = kept.sum(0) / every.sum(0).clamp(min=1)
    iou = every.diag() / (every.sum(0) + every.sum(1) - every.diag()).clamp(min=1)
    lines = [f'{thr}: {kept.sum() / every.sum():.3f} of the labeled pixels kept, '
             f'precision {kept.diag().sum() / kept.sum().clamp(min=1):.3f}; argmax mIoU '
             f'{100 * iou.mean():.1f}',
             f'{"class":12s} {"precision":>9s} {"covered":>8s} {"wrong":>9s}  most often as  IoU']
    for c, name in enumerate(names):
        wrong = kept[:, c].clone()
        wrong[c] = 0
        lines.append(f'{name:12s} {precision[c]:9.3f} {covered[c]:8.3f} {int(wrong.sum()):9d}  '
                     f'{names[int(wrong.argmax())]:13s} {100 * iou[c]:.1f}')
    return '\n'.join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--model', default='teacher',
                        help='which part of a TeacherStudent to run (teacher or student); '
                        'ignored for a plain segmentor')
    parser.add_argument('--thr', type=float, default=0.95, help='confidence threshold')
    parser.add_argument('--ann-file', default='splits/train.1-8.seed1.unlabeled.txt',
                        help='image list (relative to the data root)')
    parser.add_argument('--img-dir', default='train')
    parser.add_argument('--ann-dir', default='trainannot')
    parser.add_argument('--train-views', type=int, metavar='N',
                        help='measure on N unlabeled training images, strong views, as in '
                        'training (see above)')
    parser.add_argument('--seed', type=int, default=0, help='seed of --train-views')
    args = parser.parse_args(argv)
    register_all_modules()
    from mmseg.registry import DATASETS

    from ssl_dense.registry import MODELS
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    if args.train_views:
        if not hasattr(model, 'adapter'):
            raise TypeError(f'--train-views needs a TeacherStudent config; {args.config} '
                            f'builds a {type(model).__name__}')
        model.eval()
        dataset, meta = train_view_dataset(cfg, args.train_views, args.seed)
        names = list(meta['classes'])
        kept, every = train_view_confusion(model, dataset, len(names),
                                           branches=(model.branches['weak'],
                                                     model.branches['strong']))
        text = report(kept, every, names,
                      f'strong training views, {len(dataset)} images, {model.threshold!r}')
        print('\n' + text)
        return text
    model = getattr(model, args.model, model).eval()
    data = cfg.test_dataloader.dataset.copy()
    data.update(ann_file=args.ann_file,
                data_prefix=dict(img_path=args.img_dir, seg_map_path=args.ann_dir))
    dataset = DATASETS.build(data)
    names = list(dataset.metainfo['classes'])
    kept, every = confusion(model, dataset, len(names), args.thr)
    text = report(kept, every, names, f'confidence >= {args.thr}')
    print('\n' + text)
    return text


if __name__ == '__main__':
    main()
