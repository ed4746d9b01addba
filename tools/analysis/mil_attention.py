"""Which instances a trained MIL model looks at: attention per bag, as a
slide heatmap where the bags have patch coordinates.

Runs a checkpoint of a MIL config (ABMIL, DSMIL, TransMIL, with or without
AEM / MHIM) on the bags of one split and, for every bag, takes the model's
instance attention (softmax over the bag of the pre-softmax attention the
model returns). It writes ``attention.json`` (one row per bag: label,
predicted class and probability, attention entropy, the ``--top`` instances
and their weights) and one picture per bag:

* bags with patch coordinates (CLAM ``.h5``/``.pt`` files with ``coords``):
  a heatmap of the slide, each patch at its place coloured by its attention
  percentile within the slide (as CLAM draws them), the top patches outlined;
* bags without (CSV bags such as MUSK): the bag's attention weights sorted,
  the top ones marked.

Examples::

    python tools/analysis/mil_attention.py configs/mil/abmil_musk1-10fold.py \\
        work_dirs/abmil_musk1-10fold/fold3/epoch_40.pth --fold 3 --out-dir work_dirs/attn
    python tools/analysis/mil_attention.py MY_CLAM_CONFIG.py CKPT --bags slide_7 slide_9
"""
import argparse
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar


def bag_attention(model, item: dict) -> Dict[str, object]:
    """One bag through ``model.test_step``: its attention weights (softmax,
    numpy), predicted class probabilities, label and coordinates (or None)."""
    sample = model.test_step(pseudo_collate([item]))[0]
    logits = torch.as_tensor(sample.attention).float().flatten()
    coords = item['data_samples'].get('coords')
    return dict(weights=torch.softmax(logits, dim=0).cpu().numpy(),
                scores=torch.as_tensor(sample.pred_score).float().cpu().numpy(),
                label=int(torch.as_tensor(sample.gt_label).reshape(())),
                coords=None if coords is None else np.asarray(coords, dtype=np.float64))


def summary_row(bag_id: str, result: dict, top: int) -> dict:
    """The ``attention.json`` row of one bag."""
    weights = result['weights']
    order = np.argsort(-weights)[:top]
    entropy = float(-(weights * np.log(np.clip(weights, 1e-12, None))).sum())
    return dict(bag_id=bag_id, label=result['label'],
                pred_label=int(result['scores'].argmax()),
                pred_score=round(float(result['scores'].max()), 4),
                instances=int(len(weights)),
                # 1.0: attention spread evenly over the bag; near 0: on one instance.
                normalised_entropy=round(entropy / math.log(len(weights)), 4)
                if len(weights) > 1 else 0.0,
                top=[[int(i), round(float(weights[i]), 4)] for i in order])


def heatmap_grid(coords: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A grid with one cell per patch step (NaN where no patch lies), each
    patch's value at its coordinates; the step is the smallest gap between
    distinct coordinates."""
    def step(axis):
        gaps = np.diff(np.unique(coords[:, axis]))
        return gaps[gaps > 0].min() if (gaps > 0).any() else 1.0
    origin = coords.min(axis=0)
    cells = np.round((coords - origin) / np.array([step(0), step(1)])).astype(int)
    grid = np.full((cells[:, 1].max() + 1, cells[:, 0].max() + 1), np.nan)
    grid[cells[:, 1], cells[:, 0]] = values
    return grid


def draw_bag(bag_id: str, result: dict, row: dict, out: str) -> None:
    """The picture of one bag (heatmap with coordinates, sorted weights without)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    weights = result['weights']
    title = (f'{bag_id}: label {row["label"]}, predicted {row["pred_label"]} '
             f'({row["pred_score"]:.2f}), {row["instances"]} instances')
    if result['coords'] is not None and len(result['coords']) == len(weights):
        # Percentile of each patch within the slide, as CLAM's heatmaps.
        ranks = np.argsort(np.argsort(weights)) / max(len(weights) - 1, 1)
        grid = heatmap_grid(result['coords'][:, :2], ranks)
        fig, ax = plt.subplots(figsize=(7, 7 * grid.shape[0] / max(grid.shape[1], 1) + 0.6))
        image = ax.imshow(grid, cmap='jet', vmin=0, vmax=1, interpolation='nearest')
        fig.colorbar(image, ax=ax, fraction=0.04, label='attention percentile in the slide')
        grid_top = heatmap_grid(result['coords'][:, :2],
                                np.isin(np.arange(len(weights)),
                                        [i for i, _ in row['top']]).astype(float))
        ys, xs = np.nonzero(grid_top == 1)
        ax.scatter(xs, ys, s=60, facecolors='none', edgecolors='white', linewidths=1.5,
                   label=f'top {len(row["top"])}')
        ax.legend(loc='lower right', fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        order = np.argsort(-weights)
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.bar(np.arange(len(weights)), weights[order], color='#9ab', width=1.0)
        k = len(row['top'])
        ax.bar(np.arange(k), weights[order[:k]], color='#d62728', width=1.0,
               label=f'top {k}: instances {", ".join(str(i) for i, _ in row["top"][:5])}'
               + (' …' if k > 5 else ''))
        ax.axhline(1 / len(weights), color='k', ls='--', lw=0.8, label='uniform')
        ax.set_xlabel('instances, by attention')
        ax.set_ylabel('attention weight')
        ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--fold', type=int, help='fold of a cross-validation config')
    parser.add_argument('--split', help='split to read (default: the test dataloader\'s)')
    parser.add_argument('--bags', nargs='+', help='only these bag ids')
    parser.add_argument('--top', type=int, default=10, help='instances listed and marked')
    parser.add_argument('--out-dir', default='work_dirs/mil_attention')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    from ssl_dense.utils import register_all_modules, set_fold
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.fold is not None:
        set_fold(cfg, args.fold)
    init_default_scope(cfg.get('default_scope', 'ssl_dense'))
    from mmengine.registry import DATASETS, MODELS
    from mmengine.runner import load_checkpoint
    data_cfg = cfg.test_dataloader.dataset.copy()
    if args.split:
        data_cfg['split'] = args.split
    if str(data_cfg.get('type', '')).endswith('CLAMFeatureDataset'):
        data_cfg['with_coords'] = True
    dataset = DATASETS.build(data_cfg)
    if not hasattr(dataset, 'bag_ids'):
        raise TypeError(f'{args.config}: the test dataset {type(dataset).__name__} is not a '
                        'bag dataset; mil_attention reads MIL configs (configs/mil/)')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    indices = list(range(len(dataset)))
    if args.bags:
        where = {b: i for i, b in enumerate(dataset.bag_ids)}
        missing = [b for b in args.bags if b not in where]
        if missing:
            raise KeyError(f'bags {missing} are not in the {data_cfg.get("split")} split of '
                           f'{args.config} ({len(dataset)} bags, e.g. {dataset.bag_ids[:3]})')
        indices = [where[b] for b in args.bags]
    os.makedirs(args.out_dir, exist_ok=True)
    rows = []
    bar = ProgressBar(len(indices))
    for index in indices:
        bag_id = str(dataset.bag_ids[index])
        result = bag_attention(model, dataset[index])
        row = summary_row(bag_id, result, args.top)
        safe = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in bag_id)
        draw_bag(bag_id, result, row, osp.join(args.out_dir, f'{safe}.png'))
        rows.append(row)
        bar.update()
    with open(osp.join(args.out_dir, 'attention.json'), 'w') as f:
        json.dump(rows, f, indent=1)
    print(f'\n{"bag":<24} label  pred  score  instances  entropy  top instance (weight)')
    for row in rows:
        first = row['top'][0]
        print(f'{row["bag_id"]:<24} {row["label"]:>5} {row["pred_label"]:>5} '
              f'{row["pred_score"]:6.2f} {row["instances"]:>10} {row["normalised_entropy"]:8.2f}'
              f'  {first[0]} ({first[1]:.3f})')
    print(f'{len(rows)} bag(s) -> {args.out_dir} (attention.json and one picture per bag)')
    return rows


if __name__ == '__main__':
    main()
