"""Draw what the training pipeline of a config feeds the model, view by view.

For each picked sample of ``train_dataloader.dataset`` the pipeline runs once
and every view it packs is drawn side by side in one image: a supervised
config has one view; a semi-supervised one (``ssl_dense.SemiDataset`` +
``MultiView``) has the labelled view with its labels (``sup``) and, for
unlabelled images, the weak view the teacher labels and the strong view the
student learns from. So a user sees the crops, flips and colour noise the
augmentations make, and that the labels still sit on the objects, before
spending hours on a run. Labels are drawn per task: boxes and class names
(mmdet), a colour overlay with a legend (mmseg), keypoints and skeleton in
the crop (mmpose, from ``transformed_keypoints``)::

    python tools/analysis/browse_dataset.py \\
        configs/mean_teacher_seg/mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py \\
        --num 3 --out-dir work_dirs/browse
    python tools/analysis/browse_dataset.py configs/fpn/fpn_effl0_1xb8-2k_camvid-1-8.py

Images go to ``--out-dir`` as ``<index>_<image name>.png``; ``--seed`` fixes
which samples and which random augmentations are drawn.

With ``--checkpoint`` (a semi-supervised config and one of its checkpoints)
the unlabelled views show pseudo labels instead: the weak view what the
teacher labels on it after the threshold policy, the strong view those
labels moved through the recorded geometric transforms (what the student's
loss sees; parts that leave the view are dropped). The threshold starts from
the checkpoint's state and is not updated; reviewers are not used::

    python tools/analysis/browse_dataset.py CONFIG --checkpoint work_dirs/x/iter_2000.pth
"""
import argparse
import copy
import os
import os.path as osp
import random
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData, PixelData
from mmengine.utils import ProgressBar

#: Height of the title strip above each view.
TITLE = 22


def _image(inputs: torch.Tensor) -> np.ndarray:
    """A packed image tensor (C, H, W; the loader's BGR order) as a BGR uint8 array."""
    image = inputs.detach().cpu().numpy().transpose(1, 2, 0)
    image = np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8))
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.shape[2] == 1 else image


def _is_image(inputs) -> bool:
    """Whether packed inputs are an image tensor (C, H, W) with 1 or 3 channels."""
    return torch.is_tensor(inputs) and inputs.dim() == 3 and inputs.shape[0] in (1, 3)


def _colour(k: int) -> tuple:
    rng = np.random.default_rng(k + 7)
    return tuple(int(v) for v in rng.integers(60, 256, 3))


def draw_view(inputs: torch.Tensor, sample, meta: dict, scale: float = 1.0) -> np.ndarray:
    """One packed view with whatever labels its data sample holds.

    Args:
        inputs (Tensor): Packed image (C, H, W).
        sample: The packed data sample (mmdet ``DetDataSample``, mmseg
            ``SegDataSample`` or mmpose ``PoseDataSample``).
        meta (dict): ``metainfo`` of the dataset (classes, palette, skeleton).
        scale (float): Enlarge the view (and its labels) by this factor
            before drawing, so small training crops stay readable.
            Defaults to 1.

    Returns:
        np.ndarray: The drawn BGR image.
    """
    image = _image(inputs)
    height, width = image.shape[:2]
    if scale != 1.0:
        image = cv2.resize(image, (round(width * scale), round(height * scale)),
                           interpolation=cv2.INTER_LINEAR)
    if 'gt_sem_seg' in sample:
        from ssl_dense.apis import draw_segmentation
        labels = sample.gt_sem_seg.data[0].cpu().numpy().astype(np.int64)
        labels = labels[:height, :width]
        if labels.shape != (height, width):  # label map smaller than a padded image
            full = np.full((height, width), -1, dtype=np.int64)
            full[:labels.shape[0], :labels.shape[1]] = labels
            labels = full
        labels = cv2.resize(labels.astype(np.int32), image.shape[1::-1],
                            interpolation=cv2.INTER_NEAREST).astype(np.int64)
        classes = list(meta.get('classes', []))
        palette = meta.get('palette') or [_colour(k)[::-1] for k in range(len(classes))]
        return draw_segmentation(image, labels, classes, palette)
    instances = sample.get('gt_instances')
    if instances is None or len(instances) == 0:
        return image
    if 'transformed_keypoints' in instances:
        from ssl_dense.apis import draw_poses
        points = np.asarray(instances.transformed_keypoints, dtype=np.float32) * scale
        visible = np.asarray(instances.get('keypoints_visible', np.ones(points.shape[:2])))
        poses = [dict(keypoints=p, scores=(v > 0).astype(np.float32), bbox=None)
                 for p, v in zip(points, visible)]
        return draw_poses(image, poses, meta, kpt_thr=0.5, draw_boxes=False)
    if 'bboxes' in instances and 'labels' in instances:
        boxes = instances.bboxes
        boxes = getattr(boxes, 'tensor', boxes)
        classes = list(meta.get('classes', []))
        palette = meta.get('palette') or []
        for box, label in zip(torch.as_tensor(boxes).tolist(),
                              torch.as_tensor(instances.labels).tolist()):
            x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
            colour = (tuple(int(v) for v in palette[label][::-1]) if label < len(palette)
                      else _colour(label))  # palette: RGB
            cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
            name = classes[label] if label < len(classes) else str(label)
            cv2.putText(image, name, (x1 + 2, max(y1 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        colour, 1, cv2.LINE_AA)
    return image


def side_by_side(views: Dict[str, np.ndarray], gap: int = 6) -> np.ndarray:
    """The views next to each other, each under its name."""
    height = max(v.shape[0] for v in views.values()) + TITLE
    panels = []
    for name, view in views.items():
        panel = np.full((height, view.shape[1], 3), 255, dtype=np.uint8)
        panel[TITLE:TITLE + view.shape[0]] = view
        cv2.putText(panel, name, (4, TITLE - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)
        panels += [panel, np.full((height, gap, 3), 255, dtype=np.uint8)]
    return np.concatenate(panels[:-1], axis=1)


def draw_sample(data: dict, meta: dict, min_side: int = 320) -> Dict[str, np.ndarray]:
    """``{view name: drawn view}`` of one pipeline output: the views of a
    ``MultiView`` sample (branches it does not fill are left out), or the
    single packed view of a plain pipeline (named ``train``). Views whose
    longer side is under ``min_side`` pixels are enlarged to it."""
    inputs, samples = data['inputs'], data['data_samples']
    if not isinstance(inputs, dict):
        inputs, samples = {'train': inputs}, {'train': samples}
    views = {}
    for name, view in inputs.items():
        if view is not None:
            scale = max(1.0, min_side / max(view.shape[-2:]))
            views[name] = draw_view(view, samples[name], meta, scale)
    return views


@torch.no_grad()
def pseudo_label_views(model, data: dict) -> Dict[str, object]:
    """Pseudo labels of one unlabelled pipeline output: ``{weak branch:
    teacher's pseudo labels, strong branch: the same moved to the strong
    view}`` (the task adapter's own structures), or ``{}`` for a labelled
    sample.

    Args:
        model: A ``TeacherStudent`` (checkpoint loaded, eval mode).
        data (dict): Output of the training pipeline (one ``MultiView`` sample).
    """
    weak, strong = model.branches['weak'], model.branches['strong']
    if not isinstance(data['inputs'], dict) or data['inputs'].get(weak) is None:
        return {}
    batch = model.data_preprocessor(pseudo_collate([data]), False)
    inputs, samples = batch['inputs'], batch['data_samples']
    threshold = copy.deepcopy(model.threshold)  # the checkpoint's state, not updated
    pseudo = model.adapter.pseudo_labels(model.teacher, inputs[weak], samples[weak], threshold)
    moved = model.adapter.transfer(pseudo, samples[weak], samples[strong])
    return {weak: pseudo[0], strong: moved[0]}


def with_pseudo_labels(sample, pseudo):
    """A copy of ``sample`` whose ground truth is the pseudo labels
    ``pseudo`` as the student's loss takes them (pixels and boxes with
    weight below 1 and keypoints with weight 0 left out), so
    :func:`draw_view` draws them."""
    sample = sample.clone()
    weights = pseudo.get('weights', pseudo.get('keypoint_weights'))
    if 'keypoints' in pseudo:
        kept = weights > 0 if weights is not None else torch.ones(len(pseudo.keypoints))
        sample.gt_instances = InstanceData(
            transformed_keypoints=pseudo.keypoints[None].cpu().numpy(),
            keypoints_visible=kept[None].float().cpu().numpy())
    elif 'bboxes' in pseudo:
        # Boxes under weight 1 (e.g. a band threshold's) are ignored regions
        # in the student's loss, not labels.
        kept = weights >= 1 if weights is not None else slice(None)
        sample.gt_instances = InstanceData(bboxes=pseudo.bboxes[kept].cpu(),
                                           labels=pseudo.labels[kept].cpu())
    else:  # pixel labels
        labels = pseudo.labels
        if weights is not None:
            labels = torch.where(weights >= 1, labels, torch.full_like(labels, -1))
        sample.gt_sem_seg = PixelData(data=labels.cpu())
    return sample


def set_pack_transformed(cfg) -> None:
    """Make every ``PackPoseInputs`` of ``cfg`` pack ``transformed_keypoints``
    (the keypoints in the crop), which is what is drawn for pose."""
    if isinstance(cfg, dict):
        if str(cfg.get('type', '')).split('.')[-1] == 'PackPoseInputs':
            cfg['pack_transformed'] = True
        for value in cfg.values():
            set_pack_transformed(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            set_pack_transformed(value)


def hide_unlabelled_truth(data: dict, labelled: str) -> None:
    """Drop the ground truth of every view but the labelled one: unlabelled
    views of a hidden-truth config carry it for logging only, never for a
    loss, and drawing it would look like labels the student learns from."""
    samples = data['data_samples']
    if not isinstance(samples, dict):
        return
    for name, sample in samples.items():
        if sample is not None and name != labelled:
            sample = sample.clone()
            for key in ('gt_instances', 'gt_sem_seg', 'gt_instance_labels', 'gt_fields'):
                if key in sample:
                    delattr(sample, key)
            samples[name] = sample


def pick(dataset, num: int, rng: random.Random) -> List[int]:
    """Indices to draw: ``num`` labelled and ``num`` unlabelled ones from a
    semi-supervised dataset (``num_labeled`` attribute), else ``num``."""
    labeled = getattr(dataset, 'num_labeled', None)
    if labeled is None:
        return sorted(rng.sample(range(len(dataset)), min(num, len(dataset))))
    unlabeled = range(labeled, len(dataset))
    return (sorted(rng.sample(range(labeled), min(num, labeled)))
            + sorted(rng.sample(unlabeled, min(num, len(unlabeled)))))


def _image_name(data: dict) -> str:
    samples = data['data_samples']
    if isinstance(samples, dict):
        samples = next(s for s in samples.values() if s is not None)
    path = samples.metainfo.get('img_path') or samples.metainfo.get('img_id') or 'sample'
    return osp.splitext(osp.basename(str(path)))[0]


def main(argv: Optional[List[str]] = None) -> List[str]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--num', type=int, default=3,
                        help='samples to draw (of each part of a semi-supervised dataset)')
    parser.add_argument('--out-dir', default='work_dirs/browse_dataset')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--checkpoint',
                        help='a checkpoint of this semi-supervised config: draw the pseudo '
                        'labels on the unlabelled views')
    parser.add_argument('--min-side', type=int, default=320,
                        help='enlarge views whose longer side is shorter than this')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_dataloader.dataset.data_root=...')
    args = parser.parse_args(argv)
    from ssl_dense.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if 'train_dataloader' not in cfg:
        raise KeyError(f'{args.config} has no train_dataloader to browse')
    init_default_scope(cfg.get('default_scope', 'ssl_dense'))
    set_pack_transformed(cfg.train_dataloader.dataset)
    labelled = (cfg.get('model') or {}).get('branches', {}).get('labeled', 'sup')
    from mmengine.registry import DATASETS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    meta = dict(getattr(dataset, 'metainfo', {}) or {})
    model = None
    if args.checkpoint:
        from mmengine.registry import MODELS
        from mmengine.runner import load_checkpoint
        model = MODELS.build(cfg.model)
        if not hasattr(model, 'adapter'):
            raise TypeError(f'--checkpoint: {args.config} builds a {type(model).__name__}, not '
                            'a semi-supervised TeacherStudent; pseudo labels need one')
        load_checkpoint(model, args.checkpoint, map_location='cpu')
        model.eval()
    rng = random.Random(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    indices = pick(dataset, args.num, rng)
    written = []
    bar = ProgressBar(len(indices))
    for index in indices:
        data = dataset[index]
        if not isinstance(data, dict) or 'inputs' not in data:
            raise TypeError(f'{args.config}: sample {index} of the training dataset is a '
                            f'{type(data).__name__} without packed inputs; browse_dataset '
                            'draws image pipelines (detection, segmentation, pose)')
        views = data['inputs'].values() if isinstance(data['inputs'], dict) else [
            data['inputs']]
        if not all(_is_image(v) for v in views if v is not None):
            raise TypeError(f'{args.config}: the inputs of sample {index} are not images '
                            '(C, H, W with 1 or 3 channels); browse_dataset draws image '
                            'pipelines (detection, segmentation, pose), not bags of features')
        hide_unlabelled_truth(data, labelled)
        if model is not None:
            for branch, pseudo in pseudo_label_views(model, data).items():
                data['data_samples'][branch] = with_pseudo_labels(data['data_samples'][branch],
                                                                  pseudo)
        views = draw_sample(data, meta, args.min_side)
        if model is not None:
            views = {name if name == model.branches['labeled'] else f'{name}: pseudo labels': v
                     for name, v in views.items()}
        path = osp.join(args.out_dir, f'{index:05d}_{_image_name(data)}.png')
        cv2.imwrite(path, side_by_side(views))
        written.append(path)
        bar.update()
    print(f'\n{len(written)} sample(s) of {args.config} -> {args.out_dir}')
    return written


if __name__ == '__main__':
    main()
