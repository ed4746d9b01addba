"""MIL bag datasets, split files and the split tool."""
import csv

import numpy as np
import pytest
import torch

from ssl_dense.datasets.mil import (CLAMFeatureDataset, MILCsvDataset, read_split_file,
                                    stratified_kfold)
from tests.conftest import load_script


def _write_mil_csv(path, bags):
    """bags: {bag_id: (label, features (n, d))}."""
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        for bag_id, (label, feats) in bags.items():
            for row in np.atleast_2d(feats):
                writer.writerow([label, bag_id] + [repr(float(v)) for v in row])


def _write_split(path, assignment):
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['bag_id', 'split'])
        writer.writerows(assignment.items())


def test_musk1_bags_and_fold_selection():
    ds = MILCsvDataset('musk1.csv.gz', split_file='splits/musk1/seed1/fold{fold}.csv', fold=0,
                       split='test', in_channels=166, data_root='data/mil/')
    train = MILCsvDataset('musk1.csv.gz', split_file='splits/musk1/seed1/fold{fold}.csv',
                          fold=0, split='train', in_channels=166, data_root='data/mil/')
    assert len(ds) + len(train) == 92
    assert not set(ds.bag_ids) & set(train.bag_ids)
    sample = ds[0]
    assert sample['inputs'].dtype == torch.float32 and sample['inputs'].shape[1] == 166
    assert sample['data_samples'].bag_id == ds.bag_ids[0]
    assert int(sample['data_samples'].gt_label) in (0, 1)
    # Standardised with the training bags' statistics.
    raw = np.concatenate([train.bags[b]['features'] for b in train.bag_ids])
    assert np.allclose(ds.mean, raw.mean(0), atol=1e-4) and np.allclose(ds.mean, train.mean)
    stacked = torch.cat([train[i]['inputs'] for i in range(len(train))])
    assert stacked.mean(0).abs().max() < 1e-3


def test_standardization_uses_training_bags_only(tmp_path):
    bags = {'a': (0, [[0.0], [2.0]]), 'b': (1, [[4.0]]), 'c': (1, [[1000.0]])}
    _write_mil_csv(tmp_path / 'bags.csv', bags)
    _write_split(tmp_path / 'split.csv', {'a': 'train', 'b': 'train', 'c': 'test'})
    test = MILCsvDataset(str(tmp_path / 'bags.csv'), split_file=str(tmp_path / 'split.csv'),
                         split='test')
    assert test.mean.tolist() == pytest.approx([2.0])  # mean of 0, 2, 4: not of 1000
    assert test.bag_ids == ['c']


@pytest.mark.parametrize('bags, match', [
    ({'b7': (1, [[1.0, float('nan')], [0.0, 1.0]])}, r'bag b7 .*NaN or infinite features in 1'),
    ({'b7': (1, [[1.0, float('inf')]])}, r'bag b7 .*NaN or infinite'),
])
def test_bad_features_name_the_bag(tmp_path, bags, match):
    _write_mil_csv(tmp_path / 'bags.csv', bags)
    with pytest.raises(ValueError, match=match):
        MILCsvDataset(str(tmp_path / 'bags.csv'))


def test_mixed_labels_and_feature_size_name_the_bag(tmp_path):
    path = tmp_path / 'bags.csv'
    path.write_text('1,b1,0.5,0.5\n0,b1,0.1,0.2\n')
    with pytest.raises(ValueError, match='bag b1 has instances with labels 1 and 0'):
        MILCsvDataset(str(path))
    path.write_text('1,b1,0.5,0.5\n1,b2,0.1,0.2\n')
    with pytest.raises(ValueError, match=r'bag b1 .*2 features per instance, the config '
                       r'expects in_channels=3'):
        MILCsvDataset(str(path), in_channels=3)
    path.write_text('1,b1,0.5,0.5\n1,b2,0.1\n')
    with pytest.raises(ValueError, match=r'line 2 \(bag b2\): 1 features, earlier rows have 2'):
        MILCsvDataset(str(path))
    for bad in ('1.5', '-1'):
        path.write_text(f'1,b1,0.5,0.5\n{bad},b2,0.1,0.2\n')
        with pytest.raises(ValueError, match=rf"line 2 \(bag b2\): label '{bad}' is not a "
                           'class index'):
            MILCsvDataset(str(path))
    path.write_text('1.0,b1,0.5,0.5\n0,b2,0.1,0.2\n')
    assert MILCsvDataset(str(path), standardize=False).labels() == [1, 0]


def test_split_file_errors(tmp_path):
    _write_mil_csv(tmp_path / 'bags.csv', {'a': (0, [[1.0]]), 'b': (1, [[2.0]])})
    _write_split(tmp_path / 'split.csv', {'a': 'train', 'zz': 'test'})
    with pytest.raises(KeyError, match=r"lists bags that .* does not have: \['zz'\]"):
        MILCsvDataset(str(tmp_path / 'bags.csv'), split_file=str(tmp_path / 'split.csv'),
                      split='train')
    _write_split(tmp_path / 'split.csv', {'a': 'training'})
    with pytest.raises(ValueError, match="split 'training' of bag a"):
        read_split_file(str(tmp_path / 'split.csv'))
    # Without a split: every bag the file lists, train and test alike.
    _write_split(tmp_path / 'split.csv', {'a': 'train', 'b': 'test'})
    listed = MILCsvDataset(str(tmp_path / 'bags.csv'), split_file=str(tmp_path / 'split.csv'),
                           standardize=False)
    assert listed.bag_ids == ['a', 'b']
    with pytest.raises(ValueError, match='placeholder; set fold'):
        MILCsvDataset(str(tmp_path / 'bags.csv'), split_file=str(tmp_path / 'f{fold}.csv'),
                      split='train')


def _clam_tree(tmp_path, fmt='pt'):
    (tmp_path / 'slides.csv').write_text('case_id,slide_id,label\nc1,s1,tumor\nc2,s2,normal\n'
                                         'c3,s3,tumor\n')
    rng = np.random.default_rng(0)
    feats = {s: rng.normal(size=(n, 8)).astype(np.float32) for s, n in
             (('s1', 5), ('s2', 3), ('s3', 4))}
    if fmt == 'pt':
        (tmp_path / 'pt_files').mkdir()
        for s, f in feats.items():
            torch.save(dict(features=torch.from_numpy(f), coords=torch.arange(len(f) * 2)
                            .reshape(-1, 2)), tmp_path / 'pt_files' / f'{s}.pt')
    else:
        import h5py
        (tmp_path / 'h5_files').mkdir()
        for s, f in feats.items():
            with h5py.File(tmp_path / 'h5_files' / f'{s}.h5', 'w') as h5:
                h5['features'] = f
                h5['coords'] = np.arange(len(f) * 2).reshape(-1, 2)
    return feats


@pytest.mark.parametrize('fmt', ['pt', 'h5'])
def test_clam_features(tmp_path, fmt):
    feats = _clam_tree(tmp_path, fmt)
    ds = CLAMFeatureDataset(str(tmp_path / 'slides.csv'), str(tmp_path),
                            label_map=dict(normal=0, tumor=1), in_channels=8, with_coords=True)
    assert ds.bag_ids == ['s1', 's2', 's3'] and ds.labels() == [1, 0, 1]
    sample = ds[1]
    assert torch.equal(sample['inputs'], torch.from_numpy(feats['s2']))
    assert sample['data_samples'].coords.shape == (3, 2)
    with pytest.raises(ValueError, match=r"slide s1: label 'tumor' is not a class index"):
        CLAMFeatureDataset(str(tmp_path / 'slides.csv'), str(tmp_path))
    # Standardised with statistics merged slide by slide: the same as over
    # all training instances stacked.
    std = CLAMFeatureDataset(str(tmp_path / 'slides.csv'), str(tmp_path), standardize=True,
                             label_map=dict(normal=0, tumor=1))
    stacked = np.concatenate(list(feats.values()))
    np.testing.assert_allclose(std.mean, stacked.mean(0), atol=1e-6)
    np.testing.assert_allclose(std.std, stacked.std(0), rtol=1e-5)
    expected = (feats['s2'] - stacked.mean(0)) / stacked.std(0)
    np.testing.assert_allclose(std[1]['inputs'].numpy(), expected, rtol=1e-4, atol=1e-5)


def test_clam_missing_file_and_bad_bags_name_the_slide(tmp_path):
    _clam_tree(tmp_path, 'pt')
    (tmp_path / 'pt_files' / 's3.pt').unlink()
    with pytest.raises(FileNotFoundError, match=r'slide s3 \(in .*slides.csv\) has no feature '
                       r'file'):
        CLAMFeatureDataset(str(tmp_path / 'slides.csv'), str(tmp_path),
                           label_map=dict(normal=0, tumor=1))
    torch.save(torch.zeros(0, 8), tmp_path / 'pt_files' / 's3.pt')
    ds = CLAMFeatureDataset(str(tmp_path / 'slides.csv'), str(tmp_path),
                            label_map=dict(normal=0, tumor=1))
    with pytest.raises(ValueError, match=r'bag s3 .* has no instances'):
        ds[2]
    torch.save(torch.zeros(8), tmp_path / 'pt_files' / 's3.pt')  # one vector, not a bag
    with pytest.raises(ValueError, match=r'bag s3 .*features of shape \(8,\), expected '
                       r'\(instances, features\)'):
        ds[2]
    torch.save(torch.full((2, 8), float('nan')), tmp_path / 'pt_files' / 's3.pt')
    with pytest.raises(ValueError, match=r'bag s3 .*NaN or infinite features in 2 of its 2'):
        ds[2]


def test_stratified_kfold_no_overlap_and_stratified():
    ids = [f'b{i}' for i in range(47 + 45)]
    labels = [1] * 47 + [0] * 45
    folds = stratified_kfold(ids, labels, folds=10, seed=1, val_fraction=0.1)
    tested = [b for f in folds for b, s in f.items() if s == 'test']
    assert sorted(tested) == sorted(ids)  # every bag tested exactly once
    for f in folds:
        test = [b for b, s in f.items() if s == 'test']
        pos = sum(labels[ids.index(b)] for b in test)
        assert len(test) in (9, 10) and pos in (4, 5)
        val = [b for b, s in f.items() if s == 'val']
        assert 6 <= len(val) <= 10 and not set(val) & set(test)
    assert folds == stratified_kfold(ids, labels, folds=10, seed=1, val_fraction=0.1)
    assert folds != stratified_kfold(ids, labels, folds=10, seed=2, val_fraction=0.1)
    with pytest.raises(ValueError, match='not unique'):
        stratified_kfold(['a', 'a'], [0, 1], folds=2, seed=0)


def test_split_bags_tool(tmp_path):
    tool = load_script('tools/split_bags.py')
    paths = tool.main(['data/mil/musk1.csv.gz', '--folds', '5', '--seed', '3',
                       '--out-dir', str(tmp_path)])
    assert len(paths) == 5
    tests = [b for p in paths for b, s in read_split_file(p).items() if s == 'test']
    assert len(tests) == len(set(tests)) == 92


def test_features_constant_in_training_bags_are_not_blown_up(tmp_path):
    # Feature 2 is 0 in every training instance and 5 in the test bag: it is
    # centred, not divided by a ~0 std.
    bags = {'a': (0, [[0.0, 0.0], [2.0, 0.0]]), 'b': (1, [[4.0, 0.0]]), 'c': (1, [[1.0, 5.0]])}
    _write_mil_csv(tmp_path / 'bags.csv', bags)
    _write_split(tmp_path / 'split.csv', {'a': 'train', 'b': 'train', 'c': 'test'})
    test = MILCsvDataset(str(tmp_path / 'bags.csv'), split_file=str(tmp_path / 'split.csv'),
                         split='test')
    x = test[0]['inputs']
    assert x[0, 1].item() == pytest.approx(5.0)
    assert x[0, 0].item() == pytest.approx((1.0 - 2.0) / np.std([0.0, 2.0, 4.0]))


def test_standardised_values_are_clipped_when_asked():
    kwargs = dict(split_file='splits/elephant/seed1/fold{fold}.csv', fold=0, split='test',
                  data_root='data/mil/')

    def peak(ds):
        return max(ds[i]['inputs'].abs().max().item() for i in range(len(ds)))

    # Without the clip one test instance reaches ~19,000 (a feature with std
    # 4e-4 in the training bags); the ELEPHANT configs clip at 10.
    assert peak(MILCsvDataset('elephant.csv.gz', **kwargs)) > 1000
    assert peak(MILCsvDataset('elephant.csv.gz', clip=10.0, **kwargs)) == 10.0


def test_split_bags_keeps_the_slides_of_a_case_together(tmp_path):
    """CLAM lists: a patient with several slides never has one in training
    and another in test (or validation)."""
    import csv
    rows = [(f'case{c}', f'case{c}_slide{s}', 'tumor' if c % 2 else 'normal')
            for c in range(12) for s in range(1 + c % 3)]
    with open(tmp_path / 'slides.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['case_id', 'slide_id', 'label'])
        writer.writerows(rows)
    tool = load_script('tools/split_bags.py')
    paths = tool.main([str(tmp_path / 'slides.csv'), '--format', 'clam', '--folds', '3',
                       '--seed', '0', '--val-fraction', '0.25', '--out-dir', str(tmp_path / 's')])
    tested = []
    for path in paths:
        split = read_split_file(path)
        assert set(split) == {slide for _, slide, _ in rows}
        by_case = {}
        for case, slide, _ in rows:
            by_case.setdefault(case, set()).add(split[slide])
        assert all(len(s) == 1 for s in by_case.values())  # one split per patient
        assert any(s == {'val'} for s in by_case.values())
        tested += [slide for slide, s in split.items() if s == 'test']
    assert sorted(tested) == sorted(slide for _, slide, _ in rows)  # each tested once


def test_clam_bad_inputs_name_the_slide_and_file(tmp_path):
    """A slide listed with two labels, an h5 file without features, a feature
    size other than the config's and infinite features: each error names
    the slide (and the file where there is one)."""
    import h5py
    _clam_tree(tmp_path, 'h5')
    labels = dict(normal=0, tumor=1)
    csv_file = tmp_path / 'slides.csv'
    good = csv_file.read_text()
    csv_file.write_text(good + 'c1,s1,normal\n')
    with pytest.raises(ValueError, match=r'line 5: slide s1 is listed with labels 1 and 0'):
        CLAMFeatureDataset(str(csv_file), str(tmp_path), label_map=labels)
    csv_file.write_text(good)
    with pytest.raises(ValueError, match=r'bag s1 .*s1.h5\) has 8 features per instance, the '
                       r'config expects in_channels=16'):
        CLAMFeatureDataset(str(csv_file), str(tmp_path), label_map=labels, in_channels=16)[0]
    ds = CLAMFeatureDataset(str(csv_file), str(tmp_path), label_map=labels)
    with h5py.File(tmp_path / 'h5_files' / 's2.h5', 'w') as h5:
        h5['coords'] = np.zeros((3, 2))
    with pytest.raises(KeyError, match=r'slide s2: .*s2.h5 has no "features" dataset'):
        ds[1]
    with h5py.File(tmp_path / 'h5_files' / 's2.h5', 'w') as h5:
        h5['features'] = np.array([[0.0] * 8, [np.inf] + [0.0] * 7], dtype=np.float32)
    with pytest.raises(ValueError, match=r'bag s2 .*NaN or infinite features in 1 of its 2'):
        ds[1]
