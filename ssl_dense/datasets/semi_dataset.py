"""A labeled and an unlabeled dataset, checked and concatenated."""
import json
import math
import os.path as osp
from typing import Iterator, Optional

import torch
from mmengine.dataset import ConcatDataset
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from ssl_dense.registry import DATA_SAMPLERS, DATASETS
from ssl_dense.utils.typing_utils import ConfigType

__all__ = ['SemiDataset', 'LabeledUnlabeledSampler']


def _describe(dataset) -> str:
    ann = getattr(dataset, 'ann_file', None)
    return f'{type(dataset).__name__}({ann})' if ann else type(dataset).__name__


def _ann_path(cfg: ConfigType) -> Optional[str]:
    """The annotation file a dataset config names, joined with data_root."""
    ann_file = cfg.get('ann_file')
    if not ann_file:
        return None
    root = cfg.get('data_root') or ''
    return ann_file if osp.isabs(ann_file) else osp.join(root, ann_file)


def _read_json(path: str) -> dict:
    """The JSON object in ``path``; an unreadable file is named."""
    with open(path) as f:
        try:
            data = json.load(f)
        except ValueError as err:
            raise ValueError(f'{path} is not valid JSON: {err}') from err
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a COCO-style JSON object, got {type(data).__name__}')
    return data


def _json_category_names(dataset) -> Optional[list]:
    """Category names in a dataset's COCO json, or None if it has no json."""
    ann_file = getattr(dataset, 'ann_file', None)
    if not (isinstance(ann_file, str) and ann_file.endswith('.json')):
        return None
    return [c.get('name') for c in _read_json(ann_file).get('categories', [])]


@DATASETS.register_module()
class SemiDataset(ConcatDataset):
    """Labeled dataset first, unlabeled dataset second.

    Checks, at build time, what would otherwise fail much later or silently:
    both parts have samples, and they have the same classes (``metainfo``)
    and, for COCO json files, the same categories in the same order.

    Args:
        labeled (dict): Config of the labeled dataset.
        unlabeled (dict): Config of the unlabeled dataset.

    Attributes:
        num_labeled (int): Samples of the labeled part (indices ``0 ..
            num_labeled - 1``); the unlabeled part follows.
    """

    def __init__(self, labeled: ConfigType, unlabeled: ConfigType) -> None:
        parts = []
        for name, cfg in (('labeled', labeled), ('unlabeled', unlabeled)):
            ann_file = _ann_path(cfg)
            if ann_file and ann_file.endswith('.json') and osp.isfile(ann_file):
                if not _read_json(ann_file).get('images'):
                    raise ValueError(f'the {name} dataset ({ann_file}) has no samples: '
                                     'its "images" list is empty')
            try:
                parts.append(DATASETS.build(cfg))
            except Exception as err:
                raise RuntimeError(f'building the {name} dataset ({ann_file or cfg.get("type")})'
                                   f' failed: {type(err).__name__}: {err}') from err
        for name, part in zip(('labeled', 'unlabeled'), parts):
            if len(part) == 0:
                raise ValueError(f'the {name} dataset {_describe(part)} has no samples; '
                                 'check ann_file, data_prefix and filter_cfg')
        lab_classes = parts[0].metainfo.get('classes')
        unl_classes = parts[1].metainfo.get('classes')
        if lab_classes != unl_classes:
            raise ValueError(f'labeled and unlabeled datasets have different classes: '
                             f'{_describe(parts[0])} {lab_classes} vs {_describe(parts[1])} '
                             f'{unl_classes}')
        names = [_json_category_names(p) for p in parts]
        if None not in names and names[0] != names[1]:
            raise ValueError(f'labeled and unlabeled COCO files have different categories: '
                             f'{_describe(parts[0])} {names[0]} vs {_describe(parts[1])} '
                             f'{names[1]}; make both with tools/split_dataset.py from one file')
        super().__init__(parts)
        self.num_labeled = len(parts[0])
        self.num_unlabeled = len(parts[1])


@DATA_SAMPLERS.register_module()
class LabeledUnlabeledSampler(Sampler):
    """Batches with a fixed number of labeled and unlabeled samples.

    Every batch of ``batch_size`` holds ``num_labeled`` samples of the
    labeled part of a :class:`SemiDataset` and ``batch_size - num_labeled``
    of the unlabeled part, on every rank. One epoch is one pass over the
    unlabeled data (split across ranks); the smaller labeled part is cycled
    in fresh shuffles. The sampler is finite, so it works with epoch-based
    loops, and mmengine's iteration-based loop restarts it with a new epoch
    seed when it runs out.

    Args:
        dataset (SemiDataset): The dataset.
        batch_size (int): Samples per batch and rank; must equal the
            dataloader's ``batch_size``.
        num_labeled (int): Labeled samples per batch, 1 .. batch_size - 1.
        shuffle (bool): Shuffle each epoch. Defaults to True.
        seed (int, optional): Base seed, the same on all ranks. Defaults to
            a seed synchronised across ranks.
    """

    def __init__(self, dataset: SemiDataset, batch_size: int, num_labeled: int,
                 shuffle: bool = True, seed: Optional[int] = None) -> None:
        if not hasattr(dataset, 'num_labeled'):
            raise TypeError(f'LabeledUnlabeledSampler needs a SemiDataset, got '
                            f'{type(dataset).__name__}')
        if not 1 <= num_labeled < batch_size:
            raise ValueError(f'num_labeled must be in [1, batch_size - 1] so every batch has '
                             f'labeled and unlabeled samples, got {num_labeled} of {batch_size}')
        self.dataset = dataset
        self.batch_size, self.num_labeled = batch_size, num_labeled
        self.num_unlabeled_per_batch = batch_size - num_labeled
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, self.world_size = get_dist_info()
        self.epoch = 0
        self.batches_per_rank = math.ceil(
            dataset.num_unlabeled / (self.num_unlabeled_per_batch * self.world_size))

    def _order(self, n: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``length`` indices into range(n): whole shuffles, concatenated."""
        chunks = []
        while sum(len(c) for c in chunks) < length:
            chunks.append(torch.randperm(n, generator=generator) if self.shuffle
                          else torch.arange(n))
        return torch.cat(chunks)[:length]

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        total = self.batches_per_rank * self.world_size
        labeled = self._order(self.dataset.num_labeled, total * self.num_labeled, g)
        unlabeled = self._order(self.dataset.num_unlabeled, total * self.num_unlabeled_per_batch,
                                g) + self.dataset.num_labeled
        labeled = labeled.view(total, self.num_labeled)
        unlabeled = unlabeled.view(total, self.num_unlabeled_per_batch)
        for b in range(self.rank, total, self.world_size):
            yield from labeled[b].tolist()
            yield from unlabeled[b].tolist()

    def __len__(self) -> int:
        return self.batches_per_rank * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Use a different shuffle in every epoch (called by the loops)."""
        self.epoch = epoch
