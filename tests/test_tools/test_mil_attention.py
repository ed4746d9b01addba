"""tools/analysis/mil_attention.py: per-bag attention of a MIL checkpoint."""
import json

import matplotlib.image
import numpy as np
import pytest
import torch

from tests.conftest import REPO_ROOT, load_script


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis/mil_attention.py')


def _checkpoint(tmp_path, config, **options):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ssl_dense.registry import MODELS
    init_default_scope('ssl_dense')
    cfg = Config.fromfile(f'{REPO_ROOT}/{config}')
    cfg.merge_from_dict(options)
    torch.manual_seed(0)
    path = tmp_path / 'model.pth'
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict()), path)
    return str(path)


def test_musk_bags_get_rows_weights_and_pictures(tmp_path, tool):
    config = 'configs/mil/abmil_musk1-10fold.py'
    rows = tool.main([config, _checkpoint(tmp_path, config), '--fold', '2', '--top', '3',
                      '--out-dir', str(tmp_path / 'out')])
    assert len(rows) in (9, 10)  # fold 2's test bags of the 92 MUSK1 bags
    assert json.load(open(tmp_path / 'out' / 'attention.json')) == rows
    for row in rows:
        weights = [w for _, w in row['top']]
        assert weights == sorted(weights, reverse=True)
        assert len(row['top']) == min(3, row['instances'])
        assert 0.0 <= row['normalised_entropy'] <= 1.0 + 1e-6
        assert (tmp_path / 'out' / f'{row["bag_id"]}.png').is_file()
    with pytest.raises(KeyError, match="bags \\['nope'\\] are not in the test split"):
        tool.main([config, _checkpoint(tmp_path, config), '--fold', '2', '--bags', 'nope',
                   '--out-dir', str(tmp_path / 'out')])


def test_weights_are_the_softmax_of_the_model_attention(tmp_path, tool):
    from mmengine.config import Config
    from mmengine.registry import DATASETS, init_default_scope

    from ssl_dense.registry import MODELS
    from ssl_dense.utils import set_fold
    config = 'configs/mil/abmil_musk1-10fold.py'
    init_default_scope('ssl_dense')
    cfg = Config.fromfile(f'{REPO_ROOT}/{config}')
    set_fold(cfg, 0)
    model = MODELS.build(cfg.model).eval()
    item = DATASETS.build(cfg.test_dataloader.dataset)[0]
    result = tool.bag_attention(model, item)
    with torch.no_grad():
        attention = model.aggregator(item['inputs'].float())['attention']
    np.testing.assert_allclose(result['weights'], torch.softmax(attention, 0).numpy(),
                               rtol=1e-5)
    assert result['weights'].sum() == pytest.approx(1.0)


def test_slide_with_coordinates_is_drawn_as_a_heatmap(tmp_path, tool):
    """A CLAM slide: patches on a 256-pixel grid, the picture puts each one in
    its cell, highest attention percentile where the model attends most."""
    import h5py
    rng = np.random.default_rng(0)
    (tmp_path / 'h5_files').mkdir()
    ys, xs = np.mgrid[0:6, 0:9]
    coords = np.stack([xs.ravel(), ys.ravel()], 1)[rng.permutation(54)[:40]] * 256 + 1024
    with h5py.File(tmp_path / 'h5_files' / 'slide_1.h5', 'w') as h5:
        h5['features'] = rng.normal(size=(40, 16)).astype(np.float32)
        h5['coords'] = coords
    (tmp_path / 'slides.csv').write_text('case_id,slide_id,label\nc1,slide_1,1\n')
    grid = tool.heatmap_grid(coords.astype(float), np.arange(40.0))
    assert grid.shape == (6, 9) and np.isfinite(grid).sum() == 40
    cell = (coords - 1024) // 256
    assert grid[cell[7, 1], cell[7, 0]] == 7.0
    options = dict(model=dict(aggregator=dict(in_channels=16)),
                   test_dataloader=dict(dataset=dict(
                       _delete_=True, type='CLAMFeatureDataset',
                       csv_file=str(tmp_path / 'slides.csv'), feature_dir=str(tmp_path),
                       in_channels=16)))
    config = 'configs/mil/abmil_musk1-10fold.py'
    from mmengine.config import Config
    cfg = Config.fromfile(f'{REPO_ROOT}/{config}')
    cfg.merge_from_dict(options)
    cfg_file = tmp_path / 'clam_abmil.py'
    cfg.dump(str(cfg_file))
    rows = tool.main([str(cfg_file), _checkpoint(tmp_path, config,
                                                 **{'model.aggregator.in_channels': 16}),
                      '--out-dir', str(tmp_path / 'out')])
    assert [r['bag_id'] for r in rows] == ['slide_1'] and rows[0]['instances'] == 40
    picture = matplotlib.image.imread(tmp_path / 'out' / 'slide_1.png')
    assert picture.shape[1] > picture.shape[0]  # a 9 x 6 slide is wider than tall


def test_non_bag_config_is_refused_with_the_config_named(tmp_path, tool):
    config = 'configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd.py'
    with pytest.raises(TypeError, match='retinanet_effl0_fpn_1xb4-1k_bccd.py.*not a bag dataset'):
        tool.main([config, str(tmp_path / 'unused.pth'), '--out-dir', str(tmp_path)])
