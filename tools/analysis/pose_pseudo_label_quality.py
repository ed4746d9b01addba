"""How good are a pose teacher's pseudo keypoints, per threshold and reviewer distance?

Runs the teacher of a ``TeacherStudent`` checkpoint (or a plain top-down
estimator) on the weak view of images whose keypoints are known but never
trained on (the hidden truth of the unlabeled part of a bee split, written
by ``tools/dataset_converters/bee_pose_to_coco.py``) and prints, for each
confidence threshold, the share of keypoints kept, their precision (kept
keypoints within ``--correct-dist`` of the input diagonal of the truth, as
the training log's ``pl_precision``) and recall (visible keypoints that get a
right pseudo label, ``pl_recall``). With ``--reviewer CKPT`` the teacher of a
second checkpoint (e.g. an earlier one) plays the reviewer as in
:class:`ssl_dense.models.PoseAdapter`: a keypoint is kept where both agree
(arg-max distance at most ``agree_dist`` of the heatmap diagonal) and their
mean confidence passes the threshold; one table per ``--agree-dists`` value.

Choose thresholds here, on training images, never on test::

    python tools/analysis/pose_pseudo_label_quality.py \\
        configs/trs/mean-teacher_td-hm_effl0_1xb16-1k_semi-10pct-bee.py \\
        work_dirs/.../iter_450.pth --reviewer work_dirs/.../iter_300.pth \\
        --ann-file annotations/semi/hidden_gt/bee_pose_train.10pct.seed1.unlabeled.json
"""
import argparse
import math
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmengine.utils import ProgressBar

from ssl_dense.models.tasks.pose import PoseAdapter, heatmap_keypoints
from ssl_dense.utils import register_all_modules, safe_torch_load

DEFAULT_THRS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)


def load_model(cfg: Config, checkpoint: str, part: str):
    """The ``part`` (teacher or student) of a TeacherStudent checkpoint; a
    checkpoint of a plain estimator (e.g. a supervised run of the same model)
    is loaded into the TeacherStudent's inner model."""
    from ssl_dense.registry import MODELS
    state = safe_torch_load(checkpoint, map_location='cpu')
    semi = any(key.startswith(('teacher.', 'student.')) for key in state.get('state_dict', state))
    inner = not semi and 'model' in cfg.model
    model = MODELS.build(cfg.model.model if inner else cfg.model)
    _load_checkpoint_to_model(model, state, logger='silent')
    return (model if inner else getattr(model, part, model)).eval()


def weak_view_dataset(cfg: Config, ann_file: str, data_root: Optional[str]):
    """The unlabeled dataset of ``cfg`` with ``ann_file``, through the weak view
    only (its branch of ``ssl_dense.MultiView``), carrying the hidden truth."""
    from mmpose.registry import DATASETS
    data = cfg.train_dataloader.dataset.unlabeled.copy()
    pipeline = []
    for step in data.pipeline:
        if step['type'].endswith('MultiView'):
            pipeline += step['views']['unsup_weak']
        else:
            pipeline.append(step)
    data.update(ann_file=ann_file, pipeline=pipeline)
    if data_root:
        data.data_root = data_root
    return DATASETS.build(data)


def predict(models: Sequence, dataset, adapter, batch_size: int = 16) -> Dict[str, torch.Tensor]:
    """Per image and keypoint (N, K): keypoints and scores of each model,
    whether the first model's keypoint is right, and whether it is visible."""
    keypoints: List[List[torch.Tensor]] = [[] for _ in models]
    scores: List[List[torch.Tensor]] = [[] for _ in models]
    right, visible = [], []
    bar = ProgressBar(len(dataset))
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            batch = pseudo_collate([dataset[i] for i in
                                    range(start, min(start + batch_size, len(dataset)))])
            data = models[0].data_preprocessor(batch, False)
            inputs, samples = data['inputs'], data['data_samples']
            for m, model in enumerate(models):
                heatmaps = adapter.teacher_heatmaps(model, inputs, samples)
                stride = inputs.shape[-1] / heatmaps.shape[-1]
                kps, s = heatmap_keypoints(heatmaps, stride)
                keypoints[m].append(kps)
                scores[m].append(s)
            right.append(adapter._correct(keypoints[0][-1], samples,
                                          math.hypot(*inputs.shape[-2:])))
            visible.append(torch.stack([torch.as_tensor(s.gt_instances.keypoints_visible[0]) > 0
                                        for s in samples]))
            bar.update(len(samples))
    return dict(keypoints=[torch.cat(k) for k in keypoints],
                scores=[torch.cat(s) for s in scores], right=torch.cat(right),
                visible=torch.cat(visible), heatmap_diagonal=math.hypot(*heatmaps.shape[-2:]),
                stride=stride)


def quality_table(pred: Dict, thrs: Sequence[float], agree_dist: Optional[float] = None
                  ) -> List[Dict[str, float]]:
    """One row per threshold: kept share, precision and recall (0-1).

    With ``agree_dist`` (and a second model's predictions) a keypoint is kept
    where both models' arg-max locations agree and their mean score passes
    the threshold, as :class:`~ssl_dense.models.PoseAdapter` does."""
    scores = pred['scores'][0]
    agree = torch.ones_like(scores, dtype=torch.bool)
    if agree_dist is not None:
        if len(pred['scores']) < 2:
            raise ValueError('agree_dist needs a reviewer (a second model)')
        limit = agree_dist * pred['heatmap_diagonal'] * pred['stride']
        for kps in pred['keypoints'][1:]:
            agree &= (kps - pred['keypoints'][0]).norm(dim=-1) <= limit
        scores = torch.stack(pred['scores']).mean(0)
    right, visible = pred['right'], pred['visible']
    rows = []
    for thr in thrs:
        kept = (scores >= thr) & agree
        rows.append(dict(thr=thr, agree_dist=agree_dist,
                         kept=kept.sum().item() / kept.numel(),
                         precision=(kept & right).sum().item() / max(kept.sum().item(), 1),
                         recall=(kept & right & visible).sum().item()
                         / max(visible.sum().item(), 1)))
    return rows


def format_table(rows: List[Dict[str, float]]) -> str:
    head = rows[0]['agree_dist']
    title = ('teacher alone' if head is None else
             f'teacher + reviewer, agree_dist {head} of the heatmap diagonal')
    lines = [title, f'{"thr":>5s} {"kept":>6s} {"precision":>9s} {"recall":>6s}']
    lines += [f'{r["thr"]:5.2f} {r["kept"]:6.3f} {r["precision"]:9.3f} {r["recall"]:6.3f}'
              for r in rows]
    return '\n'.join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='a semi-supervised pose config (configs/trs/)')
    parser.add_argument('checkpoint')
    parser.add_argument('--reviewer', help='checkpoint whose model plays the reviewer')
    parser.add_argument('--model', default='teacher',
                        help='which part of a TeacherStudent to run (teacher or student); '
                        'ignored for a plain estimator')
    parser.add_argument('--ann-file', default='annotations/semi/hidden_gt/'
                        'bee_pose_train.10pct.seed1.unlabeled.json',
                        help='COCO keypoint json with the truth (relative to the data root)')
    parser.add_argument('--data-root', help='override the config\'s data root')
    parser.add_argument('--thrs', type=float, nargs='+', default=list(DEFAULT_THRS))
    parser.add_argument('--agree-dists', type=float, nargs='+', default=[0.01, 0.02, 0.05],
                        help='reviewer agreement distances to tabulate (with --reviewer)')
    parser.add_argument('--flip-test', action='store_true',
                        help='average with the mirror image\'s heatmaps (PoseAdapter flip_test)')
    parser.add_argument('--correct-dist', type=float, default=0.05,
                        help='a keypoint is right within this share of the input diagonal')
    args = parser.parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    models = [load_model(cfg, args.checkpoint, args.model)]
    if args.reviewer:
        models.append(load_model(cfg, args.reviewer, args.model))
    dataset = weak_view_dataset(cfg, args.ann_file, args.data_root)
    if len(dataset) == 0:
        raise ValueError(f'{args.ann_file}: no images')
    adapter = PoseAdapter(correct_dist=args.correct_dist, flip_test=args.flip_test)
    pred = predict(models, dataset, adapter)
    if not pred['visible'].any():
        raise ValueError(f'{args.ann_file} has no visible keypoints: it needs the hidden truth '
                         '(annotations/semi/hidden_gt/...)')
    tables = [format_table(quality_table(pred, args.thrs))]
    if args.reviewer:
        tables += [format_table(quality_table(pred, args.thrs, d)) for d in args.agree_dists]
    text = (f'{len(dataset)} images, {int(pred["visible"].sum())} visible keypoints; right = '
            f'within {args.correct_dist} of the input diagonal\n\n' + '\n\n'.join(tables))
    print('\n' + text)
    return text


if __name__ == '__main__':
    main()
