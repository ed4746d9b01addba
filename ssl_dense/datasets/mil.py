"""Bag datasets for multiple-instance learning.

Two formats:

* :class:`MILCsvDataset`: one CSV, one row per instance,
  ``bag_label,bag_id,feature_1,...,feature_d``, no header (the MUSK1, MUSK2
  and ELEPHANT files in ``../shared/data/mil``).
* :class:`CLAMFeatureDataset`: CLAM-style pre-extracted patch features, a
  CSV ``case_id,slide_id,label`` and one file per slide,
  ``<feature_dir>/pt_files/<slide_id>.pt`` (a tensor, or a dict with
  ``features`` and optionally ``coords``) or
  ``<feature_dir>/h5_files/<slide_id>.h5`` (datasets ``features`` and
  optionally ``coords``).

Both take an optional split file written by ``tools/split_bags.py`` (CSV with
header ``bag_id,split``; ``split`` one of ``train``, ``val``, ``test``) and a
``split`` name, and return samples ``dict(inputs=Tensor(n, d),
data_samples=BaseDataElement(gt_label, bag_id))``. Bad bags (no instances,
NaN or infinite features, mixed labels, a feature size other than
``in_channels``, a missing feature file) raise errors that name the bag.
"""
import csv
import gzip
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.structures import BaseDataElement
from torch.utils.data import Dataset

from ssl_dense.registry import DATASETS

__all__ = [
    'MILCsvDataset', 'CLAMFeatureDataset', 'read_split_file', 'read_mil_csv', 'stratified_kfold'
]

SPLITS = ('train', 'val', 'test')


def read_split_file(path: str) -> Dict[str, str]:
    """``bag_id -> split`` from a split CSV (header ``bag_id,split``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'split file {path} does not exist (tools/split_bags.py '
                                'writes them)')
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {'bag_id', 'split'} <= set(reader.fieldnames):
            raise ValueError(f'{path}: a split file needs the header bag_id,split, got '
                             f'{reader.fieldnames}')
        out = {}
        for line, row in enumerate(reader, start=2):
            if row['split'] not in SPLITS:
                raise ValueError(f'{path}, line {line}: split {row["split"]!r} of bag '
                                 f'{row["bag_id"]} is not one of {SPLITS}')
            if row['bag_id'] in out:
                raise ValueError(f'{path}, line {line}: bag {row["bag_id"]} is listed twice')
            out[row['bag_id']] = row['split']
    return out


def _check_features(features: np.ndarray, bag_id: str, source: str,
                    in_channels: Optional[int]) -> None:
    if features.ndim != 2:
        raise ValueError(f'bag {bag_id} ({source}): features of shape {tuple(features.shape)}, '
                         'expected (instances, features)')
    if features.shape[0] == 0:
        raise ValueError(f'bag {bag_id} ({source}) has no instances (features of shape '
                         f'{tuple(features.shape)})')
    if in_channels is not None and features.shape[1] != in_channels:
        raise ValueError(f'bag {bag_id} ({source}) has {features.shape[1]} features per '
                         f'instance, the config expects in_channels={in_channels}')
    if not np.isfinite(features).all():
        bad = int((~np.isfinite(features)).any(axis=1).sum())
        raise ValueError(f'bag {bag_id} ({source}) has NaN or infinite features in {bad} of '
                         f'its {features.shape[0]} instances')


def _class_index(value) -> int:
    """A bag label as a class index: a whole number >= 0 ('1', '1.0'; not
    '1.5' or '-1')."""
    try:
        number = float(value)
    except ValueError:
        number = float('nan')
    if not number.is_integer() or number < 0:
        raise ValueError(f'label {value!r} is not a class index (a whole number >= 0)')
    return int(number)


def _streaming_moments(arrays: Iterable[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Per-column mean and (population) std of the rows of all ``arrays``
    together, merged one array at a time (Chan et al.'s pairwise update)."""
    count, mean, m2 = 0, None, None
    for array in arrays:
        array = np.asarray(array, dtype=np.float64)
        n = len(array)
        if not n:
            continue
        batch_mean = array.mean(0)
        batch_m2 = ((array - batch_mean)**2).sum(0)
        if mean is None:
            count, mean, m2 = n, batch_mean, batch_m2
            continue
        delta = batch_mean - mean
        total = count + n
        mean = mean + delta * (n / total)
        m2 = m2 + batch_m2 + delta**2 * (count * n / total)
        count = total
    if mean is None:
        raise ValueError('no training instances to standardise with')
    return mean.astype(np.float32), np.sqrt(m2 / count).astype(np.float32)


def read_mil_csv(path: str) -> Dict[str, dict]:
    """Bags of a ``bag_label,bag_id,features...`` CSV (or ``.csv.gz``), in file order:
    ``bag_id -> dict(label=int, features=float32 array (n, d))``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'MIL data file {path} does not exist')
    rows: Dict[str, list] = {}
    labels: Dict[str, int] = {}
    width = None
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rt', newline='') as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if len(row) < 3:
                raise ValueError(f'{path}, line {line}: expected bag_label,bag_id,features..., '
                                 f'got {len(row)} columns')
            if width is not None and len(row) != width:
                raise ValueError(f'{path}, line {line} (bag {row[1]}): {len(row) - 2} features, '
                                 f'earlier rows have {width - 2}')
            width = len(row)
            bag_id = row[1]
            try:
                label = _class_index(row[0])
                feats = [float(v) for v in row[2:]]
            except ValueError as err:
                raise ValueError(f'{path}, line {line} (bag {bag_id}): {err}') from err
            if labels.setdefault(bag_id, label) != label:
                raise ValueError(f'{path}, line {line}: bag {bag_id} has instances with labels '
                                 f'{labels[bag_id]} and {label}; a bag has one label')
            rows.setdefault(bag_id, []).append(feats)
    if not rows:
        raise ValueError(f'MIL data file {path} has no rows')
    return {b: dict(label=labels[b], features=np.asarray(v, dtype=np.float32))
            for b, v in rows.items()}


class _BagDataset(Dataset):
    """Common part: split selection, standardisation, sample packing."""

    def __init__(self, split_file: Optional[str], split: Optional[str],
                 in_channels: Optional[int], standardize: bool,
                 fold: Optional[int] = None, clip: Optional[float] = None) -> None:
        self.clip = clip
        if split_file is not None and '{fold}' in split_file:
            if fold is None:
                raise ValueError(f'split_file {split_file} has a {{fold}} placeholder; set fold '
                                 '(tools/train.py --fold K)')
            split_file = split_file.format(fold=fold)
        self.fold = fold
        if split is not None and split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS} or None, got {split!r}')
        if split is not None and split_file is None:
            raise ValueError(f'split={split!r} needs a split_file')
        self.split_file = split_file
        self.split = split
        self.in_channels = in_channels
        self.standardize = standardize
        self.assignment = read_split_file(split_file) if split_file else None
        self.mean: Optional[np.ndarray] = None
        self.std: Optional[np.ndarray] = None

    def _select(self, bag_ids: Sequence[str], source: str) -> List[str]:
        if self.assignment is None:
            return list(bag_ids)
        unknown = sorted(set(self.assignment) - set(bag_ids))
        if unknown:
            raise KeyError(f'{self.split_file} lists bags that {source} does not have: '
                           f'{unknown[:5]}')
        if self.split is None:
            return [b for b in bag_ids if b in self.assignment]
        return [b for b in bag_ids if self.assignment.get(b) == self.split]

    def _training_ids(self, bag_ids: Sequence[str]) -> List[str]:
        if self.assignment is None:
            return list(bag_ids)
        return [b for b in bag_ids if self.assignment.get(b) == 'train']

    def _fit_standardization(self, features: Union[List[np.ndarray], Iterable[np.ndarray]]
                             ) -> None:
        """Per-feature mean and std over the instances of the training bags of
        the split (no statistics from val or test bags). A list (bags in
        memory) is stacked; any other iterable (bags read one at a time) is
        merged bag by bag in float64, so memory stays at one bag."""
        if isinstance(features, list):
            stacked = np.concatenate(features)
            mean, std = stacked.mean(0), stacked.std(0)
        else:
            mean, std = _streaming_moments(features)
        self.mean = mean
        # A feature that is constant over the training instances is only
        # centred. ELEPHANT also has features that are nearly constant there
        # (std 4e-4) and not in a few test instances: set `clip` for such
        # data so that those values do not become 10^4.
        self.std = np.where(std > 1e-6, std, 1.0)

    def _pack(self, features: np.ndarray, label: int, bag_id: str) -> dict:
        if self.mean is not None:
            features = (features - self.mean) / self.std
            if self.clip is not None:
                features = np.clip(features, -self.clip, self.clip)
        sample = BaseDataElement(metainfo=dict(bag_id=bag_id))
        sample.gt_label = torch.tensor(label, dtype=torch.long)
        return dict(inputs=torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
                    data_samples=sample)

    @property
    def metainfo(self) -> dict:
        return dict(classes=tuple(str(c) for c in range(self.num_classes)))


@DATASETS.register_module()
class MILCsvDataset(_BagDataset):
    """Bags from one ``bag_label,bag_id,features...`` CSV.

    Args:
        data_file (str): The CSV.
        split_file (str, optional): Split CSV (``bag_id,split``); without it
            every bag is used. May hold a ``{fold}`` placeholder, filled
            with ``fold``. Defaults to None.
        fold (int, optional): Fold number for ``split_file``. Defaults to
            None.
        split (str, optional): ``'train'``, ``'val'`` or ``'test'``; None:
            every bag the split file lists (every bag without one).
        in_channels (int, optional): Expected features per instance.
        standardize (bool): Standardise every feature with the mean and std
            over the instances of the split's training bags (features
            constant there are only centred). Defaults to True.
        clip (float, optional): Clip standardised values to
            ``[-clip, clip]``: a feature nearly constant in the training bags
            would otherwise turn a different test value into thousands
            (ELEPHANT: std 4e-4, one test value -> 19,000; its config uses
            10). Defaults to None (no clipping).
        data_root (str): Prefix of ``data_file`` and ``split_file``.
    """

    def __init__(self, data_file: str, split_file: Optional[str] = None,
                 split: Optional[str] = None, in_channels: Optional[int] = None,
                 standardize: bool = True, data_root: str = '',
                 fold: Optional[int] = None, clip: Optional[float] = None) -> None:
        data_file = osp.join(data_root, data_file)
        split_file = osp.join(data_root, split_file) if split_file else None
        super().__init__(split_file, split, in_channels, standardize, fold, clip)
        self.data_file = data_file
        bags = read_mil_csv(data_file)
        for bag_id, bag in bags.items():
            _check_features(bag['features'], bag_id, data_file, in_channels)
        self.num_classes = max(b['label'] for b in bags.values()) + 1
        if standardize:
            self._fit_standardization([bags[b]['features'] for b in self._training_ids(bags)])
        self.bag_ids = self._select(list(bags), data_file)
        self.bags = {b: bags[b] for b in self.bag_ids}

    def __len__(self) -> int:
        return len(self.bag_ids)

    def __getitem__(self, index: int) -> dict:
        bag_id = self.bag_ids[index]
        bag = self.bags[bag_id]
        return self._pack(bag['features'], bag['label'], bag_id)

    def labels(self) -> List[int]:
        return [self.bags[b]['label'] for b in self.bag_ids]


@DATASETS.register_module()
class CLAMFeatureDataset(_BagDataset):
    """CLAM-style slide features: ``csv_file`` with ``case_id,slide_id,label``
    and ``<feature_dir>/pt_files/<slide_id>.pt`` or ``h5_files/<slide_id>.h5``.

    Bags are identified by ``slide_id``. Every slide's feature file must
    exist (checked when the dataset is built); features are read when a bag
    is loaded and checked then (NaN, infinite, empty, feature size).

    Args:
        csv_file (str): Slide list.
        feature_dir (str): Folder with ``pt_files/`` or ``h5_files/``.
        label_map (dict, optional): Label string -> class index; without it
            labels must be integers. Defaults to None.
        split_file, fold, split, in_channels, clip, data_root: As for
            :class:`MILCsvDataset`.
        standardize (bool): As for :class:`MILCsvDataset` (reads every
            training slide once, one at a time, when the dataset is built).
            Defaults to False.
        with_coords (bool): Put the patch coordinates, when the file has them,
            in ``data_samples.coords``. Defaults to False.
    """

    def __init__(self, csv_file: str, feature_dir: str, label_map: Optional[dict] = None,
                 split_file: Optional[str] = None, split: Optional[str] = None,
                 in_channels: Optional[int] = None, standardize: bool = False,
                 with_coords: bool = False, data_root: str = '',
                 fold: Optional[int] = None, clip: Optional[float] = None) -> None:
        csv_file = osp.join(data_root, csv_file)
        split_file = osp.join(data_root, split_file) if split_file else None
        super().__init__(split_file, split, in_channels, standardize, fold, clip)
        self.feature_dir = osp.join(data_root, feature_dir)
        self.with_coords = with_coords
        slides = self._read_slides(csv_file, label_map)
        self.num_classes = max(slides.values()) + 1
        self.files = {s: self._feature_file(s, csv_file) for s in slides}
        if standardize:
            self._fit_standardization(
                self._read(s)[0] for s in self._training_ids(list(slides)))
        self.bag_ids = self._select(list(slides), csv_file)
        self.slide_labels = {s: slides[s] for s in self.bag_ids}

    @staticmethod
    def _read_slides(csv_file: str, label_map: Optional[dict]) -> Dict[str, int]:
        if not osp.isfile(csv_file):
            raise FileNotFoundError(f'slide list {csv_file} does not exist')
        slides: Dict[str, int] = {}
        with open(csv_file, newline='') as f:
            reader = csv.DictReader(f)
            need = {'slide_id', 'label'}
            if reader.fieldnames is None or not need <= set(reader.fieldnames):
                raise ValueError(f'{csv_file}: needs the columns case_id,slide_id,label, got '
                                 f'{reader.fieldnames}')
            for line, row in enumerate(reader, start=2):
                raw = row['label']
                if label_map is not None:
                    if raw not in label_map:
                        raise KeyError(f'{csv_file}, line {line}: label {raw!r} of slide '
                                       f'{row["slide_id"]} is not in label_map {label_map}')
                    label = int(label_map[raw])
                else:
                    try:
                        label = _class_index(raw)
                    except ValueError as err:
                        raise ValueError(f'{csv_file}, line {line}: slide {row["slide_id"]}: '
                                         f'{err}; give a label_map') from err
                if slides.setdefault(row['slide_id'], label) != label:
                    raise ValueError(f'{csv_file}, line {line}: slide {row["slide_id"]} is '
                                     f'listed with labels {slides[row["slide_id"]]} and {label}')
        if not slides:
            raise ValueError(f'slide list {csv_file} has no slides')
        return slides

    def _feature_file(self, slide_id: str, csv_file: str) -> str:
        for sub, ext in (('pt_files', '.pt'), ('h5_files', '.h5')):
            path = osp.join(self.feature_dir, sub, slide_id + ext)
            if osp.isfile(path):
                return path
        raise FileNotFoundError(
            f'slide {slide_id} (in {csv_file}) has no feature file: looked for '
            f'{osp.join(self.feature_dir, "pt_files", slide_id + ".pt")} and '
            f'{osp.join(self.feature_dir, "h5_files", slide_id + ".h5")}')

    def _read(self, slide_id: str):
        path = self.files[slide_id]
        coords = None
        if path.endswith('.pt'):
            data = torch.load(path, map_location='cpu', weights_only=True)
            if isinstance(data, dict):
                if 'features' not in data:
                    raise KeyError(f'slide {slide_id}: {path} is a dict without "features"')
                coords = data.get('coords')
                data = data['features']
            features = torch.as_tensor(data).float().numpy()
        else:
            import h5py
            with h5py.File(path, 'r') as f:
                if 'features' not in f:
                    raise KeyError(f'slide {slide_id}: {path} has no "features" dataset')
                features = np.asarray(f['features'], dtype=np.float32)
                coords = np.asarray(f['coords']) if 'coords' in f else None
        if features.ndim == 3 and features.shape[0] == 1:  # (1, n, d) as some extractors save
            features = features[0]
        _check_features(features, slide_id, path, self.in_channels)
        return features, coords

    def __len__(self) -> int:
        return len(self.bag_ids)

    def __getitem__(self, index: int) -> dict:
        slide_id = self.bag_ids[index]
        features, coords = self._read(slide_id)
        sample = self._pack(features, self.slide_labels[slide_id], slide_id)
        if self.with_coords and coords is not None:
            sample['data_samples'].coords = torch.as_tensor(np.asarray(coords))
        return sample

    def labels(self) -> List[int]:
        return [self.slide_labels[s] for s in self.bag_ids]


def stratified_kfold(bag_ids: Sequence[str], labels: Sequence[int], folds: int, seed: int,
                     val_fraction: float = 0.0) -> List[Dict[str, str]]:
    """Stratified k-fold splits of bags: ``folds`` dicts ``bag_id -> split``.

    Bags of each class are shuffled with ``seed`` and dealt round-robin into
    the folds, so every fold's test set holds each class in proportion and
    every bag is tested exactly once. With ``val_fraction > 0`` that fraction
    of each fold's training bags (per class, at least one when the class has
    two or more training bags) becomes ``val``.
    """
    if len(bag_ids) != len(labels):
        raise ValueError(f'{len(bag_ids)} bag ids but {len(labels)} labels')
    if len(set(bag_ids)) != len(bag_ids):
        raise ValueError('bag ids are not unique')
    if not 2 <= folds <= len(bag_ids):
        raise ValueError(f'folds must be in [2, {len(bag_ids)}], got {folds}')
    if not 0 <= val_fraction < 1:
        raise ValueError(f'val_fraction must be in [0, 1), got {val_fraction}')
    rng = np.random.default_rng(seed)
    fold_of: Dict[str, int] = {}
    offset = 0
    for c in sorted(set(labels)):
        members = [b for b, lab in zip(bag_ids, labels) if lab == c]
        for i, j in enumerate(rng.permutation(len(members))):
            fold_of[members[j]] = (offset + i) % folds
        offset += len(members)  # next class continues the deal where this one stopped
    out = []
    for k in range(folds):
        assignment = {b: ('test' if fold_of[b] == k else 'train') for b in bag_ids}
        if val_fraction > 0:
            for c in sorted(set(labels)):
                train = [b for b, lab in zip(bag_ids, labels)
                         if lab == c and assignment[b] == 'train']
                n_val = int(round(val_fraction * len(train)))
                if n_val == 0 and len(train) >= 2:
                    n_val = 1
                for j in rng.permutation(len(train))[:n_val]:
                    assignment[train[j]] = 'val'
        out.append(assignment)
    return out
