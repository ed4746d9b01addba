"""Results scripts: a tiny end-to-end run, upsert semantics, the table."""
import argparse
import json
import math
import os.path as osp

import matplotlib.image
import pytest

from tests.conftest import REPO_ROOT, load_script


def _tool(name):
    return load_script(f'tools/analysis/{name}.py')


def test_table_mean_and_std():
    rows = [dict(method='ours_gmm', split='10pct', seed=s, bbox_mAP=v, bbox_mAP_50=80.0,
                 iters=1000) for s, v in ((1, 40.0), (2, 42.0), (3, 44.0))]
    rows.append(dict(method='supervised', split='10pct', seed=1, bbox_mAP=39.0,
                     bbox_mAP_50=79.8, iters=1000))
    text = _tool('results_table').table(rows)
    assert '| ours_gmm | 10pct | 42.0 ± 2.0 | 80.0 ± 0.0 | 3 | 1000 |' in text
    assert '| supervised | 10pct | 39.0 | 79.8 | 1 | 1000 |' in text


def test_table_says_when_a_metric_covers_only_some_seeds():
    rows = [dict(method='ours_fixed', split='1/8', seed=s, mIoU=45.0 + s, iters=4000)
            for s in (1, 2, 3)]
    rows[1]['mIoU_Seq05VD'], rows[2]['mIoU_Seq05VD'] = 44.0, 46.0
    text = _tool('results_table').table(rows)
    assert '| ours_fixed | 1/8 | 47.0 ± 1.0 | 45.0 ± 1.4 (2 of 3) | 3 | 4000 |' in text


def test_table_keeps_checkpoint_selections_apart():
    rows = [dict(method='abmil', split='musk1', seed=1, accuracy=0.8, epochs=40),
            dict(method='abmil', split='musk1', seed=1, accuracy=0.9, epochs=40,
                 selection='val_nll')]
    text = _tool('results_table').table(rows)
    assert '| abmil | musk1 | last | 0.800 | 1 | 40 |' in text
    assert '| abmil | musk1 | val_nll | 0.900 | 1 | 40 |' in text


def test_detection_results_pipeline_on_a_tiny_schedule(tmp_path):
    tool = _tool('detection_results')
    out = tmp_path / 'detection.json'
    rows = tool.main(['--methods', 'supervised', '--seeds', '2', '--max-iters', '2',
                      '--out', str(out), '--work-root', str(tmp_path / 'work')])
    assert len(rows) == 1
    saved = json.load(open(out))
    assert saved == rows
    row = saved[0]
    assert (row['method'], row['split'], row['seed'], row['iters']) == ('supervised', '10pct',
                                                                        2, 2)
    assert 0.0 <= row['bbox_mAP'] <= 100.0
    # The run trained on the seed-2 split.
    log = (tmp_path / 'work' / 'supervised_1k_10pct_seed2.train.log').read_text()
    assert 'train.10pct.seed2.labeled.json' in log
    # Upsert: the same run replaces its row.
    tool.upsert(str(out), dict(row, bbox_mAP=99.0))
    assert [r['bbox_mAP'] for r in json.load(open(out))] == [99.0]


def test_peer_grid_and_tuned_peer(tmp_path, monkeypatch):
    """The grid trains every point, keeps val mAP, and the best point is chosen."""
    tool = _tool('detection_results')
    monkeypatch.setitem(tool.PEER_GRID, 'cls_pseudo_thr', (0.5, 0.9))
    monkeypatch.setitem(tool.PEER_GRID, 'momentum', (0.01, ))
    out = tmp_path / 'grid.json'
    rows = tool.main(['--peer-grid', '--max-iters', '2', '--peer-grid-out', str(out),
                      '--work-root', str(tmp_path / 'work')])
    assert [(r['cls_pseudo_thr'], r['momentum']) for r in rows] == [(0.5, 0.01), (0.9, 0.01)]
    assert json.load(open(out)) == rows
    # The options reached mmdet's SemiBaseDetector and MeanTeacherHook.
    log = (tmp_path / 'work' / 'peer_grid_1k_thr0.9_m0.01_seed1.train.log').read_text()
    assert 'cls_pseudo_thr=0.9' in log and 'momentum=0.01' in log
    fake = [dict(r, val_bbox_mAP=v) for r, v in zip(rows, (30.0, 35.0))]
    json.dump(fake, open(out, 'w'))
    assert tool.tuned_peer(str(out))['cls_pseudo_thr'] == 0.9


def test_tuned_peer_trains_with_the_best_grid_point(tmp_path, monkeypatch):
    """mmdet_semibase rows use the grid's best threshold and momentum and say so."""
    tool = _tool('detection_results')
    grid = tmp_path / 'grid.json'
    points = [(0.5, 0.01, 10.0), (0.9, 0.001, 22.0), (0.7, 0.001, 15.0)]
    json.dump([dict(method='mmdet_semibase', cls_pseudo_thr=t, momentum=m, val_bbox_mAP=v,
                    val_bbox_mAP_50=v, iters=2000, seed=1) for t, m, v in points],
              open(grid, 'w'))
    monkeypatch.setattr(tool, 'PEER_GRID_FILE', str(grid))
    monkeypatch.setattr(tool.tuned_peer, '__defaults__', (str(grid), None))
    seen = {}

    def fake_train(config, work_dir, options, what):
        seen['options'] = list(options)
        return str(tmp_path / 'iter_2000.pth')

    monkeypatch.setattr(tool, '_train', fake_train)
    monkeypatch.setattr(tool, '_test', lambda *a, **k: {'coco/bbox_mAP': 0.25,
                                                        'coco/bbox_mAP_50': 0.6})
    row = tool.run('mmdet_semibase', 2, str(tmp_path / 'work'), None, '2k')
    assert 'model.semi_train_cfg.cls_pseudo_thr=0.9' in seen['options']
    assert 'custom_hooks.0.momentum=0.001' in seen['options']
    assert any('train.10pct.seed2.labeled.json' in o for o in seen['options'])
    assert (row['cls_pseudo_thr'], row['momentum'], row['bbox_mAP']) == (0.9, 0.001, 25.0)


def test_peer_with_burn_in_starts_from_the_supervised_checkpoint(tmp_path, monkeypatch):
    """mmdet_semibase_burnin: 1k supervised run, its weights as student and
    teacher of SemiBaseDetector, then the tuned peer; 2,000 iterations in all."""
    import torch
    tool = _tool('detection_results')
    grid = tmp_path / 'grid.json'
    json.dump([dict(method='mmdet_semibase', cls_pseudo_thr=0.9, momentum=0.001,
                    val_bbox_mAP=22.0, val_bbox_mAP_50=60.0, iters=2000, seed=1)],
              open(grid, 'w'))
    monkeypatch.setattr(tool.tuned_peer, '__defaults__', (str(grid), None))
    calls = []

    def fake_train(config, work_dir, options, what):
        calls.append((config, list(options)))
        path = f'{work_dir}/iter_1000.pth'
        import os
        os.makedirs(work_dir, exist_ok=True)
        # As mmengine writes it: with the message hub's HistoryBuffer objects.
        from mmengine.logging import HistoryBuffer
        torch.save(dict(state_dict={'backbone.w': torch.ones(2)},
                        message_hub=dict(log_scalars={'train/loss': HistoryBuffer()})), path)
        return path

    monkeypatch.setattr(tool, '_train', fake_train)
    monkeypatch.setattr(tool, '_test', lambda *a, **k: {'coco/bbox_mAP': 0.3,
                                                        'coco/bbox_mAP_50': 0.7})
    row = tool.run('mmdet_semibase_burnin', 3, str(tmp_path / 'work'), None, '2k')
    (sup_config, sup_options), (peer_config, peer_options) = calls
    assert sup_config.endswith('retinanet_effl0_fpn_1xb4-1k_bccd-10pct.py')
    assert any('train.10pct.seed3.labeled.json' in o for o in sup_options)
    assert peer_config.endswith('semi-base_retinanet_effl0_fpn_1xb4-1k_semi-10pct-bccd.py')
    load = next(o for o in peer_options if o.startswith('load_from='))[len('load_from='):]
    state = torch.load(load, weights_only=True)['state_dict']
    assert set(state) == {'student.backbone.w', 'teacher.backbone.w'}
    assert 'model.semi_train_cfg.cls_pseudo_thr=0.9' in peer_options
    assert (row['iters'], row['bbox_mAP'], row['method']) == (2000, 30.0,
                                                              'mmdet_semibase_burnin')


def test_peer_grid_subset_rejects_points_outside_the_grid(tmp_path, capsys):
    """--grid-thr / --grid-momentum spread the grid over processes; a value
    outside the grid is an error, not a silently different experiment."""
    tool = _tool('detection_results')
    with pytest.raises(SystemExit):
        tool.main(['--peer-grid', '--grid-thr', '0.8', '--peer-grid-out',
                   str(tmp_path / 'grid.json'), '--work-root', str(tmp_path / 'work')])
    assert 'cls_pseudo_thr values [0.8] are not in the grid' in capsys.readouterr().err
    assert not (tmp_path / 'grid.json').exists()


def test_parse_val_reads_the_last_teacher_validation():
    tool = _tool('detection_results')
    log = ('Iter(val) [22/22]    teacher/coco/bbox_mAP: 0.1000  teacher/coco/bbox_mAP_50: 0.2000'
           '  student/coco/bbox_mAP: 0.3000\n'
           'Iter(val) [22/22]    teacher/coco/bbox_mAP: 0.4120  teacher/coco/bbox_mAP_50: 0.8010'
           '  student/coco/bbox_mAP: 0.3000\n')
    assert tool.parse_val(log) == {'val_bbox_mAP': 41.2, 'val_bbox_mAP_50': 80.1}
    assert tool.parse_val('no validation') == {'val_bbox_mAP': 0.0, 'val_bbox_mAP_50': 0.0}


def test_pseudo_quality_is_the_mean_of_the_last_intervals():
    tool = _tool('detection_results')
    log = '\n'.join(f'Iter(train) [{i}00/1000]  loss: 0.5  pl_precision: {p}  pl_recall: 0.5000'
                    for i, p in enumerate((0.1, 0.2, 0.7, 0.8, 0.9), 1))
    assert tool.parse_pseudo_quality(log) == {'pl_precision': 80.0, 'pl_recall': 50.0}
    assert tool.parse_pseudo_quality('Iter(train) [100/1000]  loss: 0.5') == {}


def test_table_shows_another_run_beside_the_results(tmp_path):
    main_file, mine = tmp_path / 'detection.json', tmp_path / 'mine.json'
    row = dict(method='supervised', split='10pct', seed=1, bbox_mAP=39.0, iters=1000)
    json.dump([row], open(main_file, 'w'))
    json.dump([dict(row, method='ours_fixed', bbox_mAP=41.0)], open(mine, 'w'))
    text = _tool('results_table').main([str(main_file), '--also', str(mine)])
    assert '| supervised | 10pct | 39.0 | 1 | 1000 |' in text
    assert f'| ours_fixed ({mine}) | 10pct | 41.0 | 1 | 1000 |' in text


def test_segmentation_results_pipeline_on_the_camvid_fixture(tmp_path):
    import shutil

    from tests.conftest import REPO_ROOT
    root = tmp_path / 'camvid'
    shutil.copytree(f'{REPO_ROOT}/tests/data/camvid', root)
    shutil.copytree(root / 'val', root / 'test')
    shutil.copytree(root / 'valannot', root / 'testannot')
    # Two test sequences, as in CamVid's test split: rows carry mIoU per sequence.
    (root / 'test' / '0016E5_07961.jpg').rename(root / 'test' / 'Seq05VD_f07961.jpg')
    (root / 'testannot' / '0016E5_07961.png').rename(root / 'testannot' / 'Seq05VD_f07961.png')
    load_script('tools/split_dataset.py').main([str(root / 'train'), '--fraction', '1/4',
                                               '--out-dir', str(root / 'splits')])
    out = tmp_path / 'segmentation.json'
    rows = _tool('segmentation_results').main(
        ['--methods', 'ours_cutmix_fp', '--splits', '1/4', '--seeds', '1', '--max-iters', '2',
         '--data-root', str(root), '--out', str(out), '--work-root', str(tmp_path / 'work')])
    assert json.load(open(out)) == rows
    row = rows[0]
    assert (row['method'], row['split'], row['seed'], row['iters']) == ('ours_cutmix_fp', '1/4',
                                                                        1, 2)
    assert 0.0 <= row['mIoU'] <= 100.0
    assert 0.0 <= row['mIoU_0016E5'] <= 100.0 and 0.0 <= row['mIoU_Seq05VD'] <= 100.0
    log = (tmp_path / 'work' / 'ours_cutmix_fp_1-4_seed1.train.log').read_text()
    assert 'train.1-4.seed1.unlabeled.txt' in log and 'SegCutMix' in log
    # --reuse tests the finished run again without training it again.
    again = _tool('segmentation_results').main(
        ['--methods', 'ours_cutmix_fp', '--splits', '1/4', '--seeds', '1', '--max-iters', '2',
         '--data-root', str(root), '--out', str(out), '--work-root', str(tmp_path / 'work'),
         '--reuse'])
    assert again[0]['mIoU'] == row['mIoU']
    assert (tmp_path / 'work' / 'ours_cutmix_fp_1-4_seed1.train.log').read_text() == log
    common = _tool('results_common')
    work = str(tmp_path / 'work' / 'ours_cutmix_fp_1-4_seed1')
    assert common.finished_checkpoint(work, 2).endswith('iter_2.pth')
    assert common.finished_checkpoint(work, 2000) is None


@pytest.mark.parametrize('config', [
    'configs/fpn/fpn_effl0_1xb8-2k_camvid-1-8.py',
    'configs/mean_teacher_seg/mean-teacher-cutmix-fp_fpn_effl0_1xb16-2k_semi-1-8-camvid.py'])
def test_segmentation_input_size_scales_every_crop_and_image(config):
    """``--input-size 256``: 256 x 256 crops of full-size (480 x 360) images in
    every view, and validation and test at full size too."""
    from mmengine.config import Config, DictAction

    from tests.conftest import REPO_ROOT
    cfg = Config.fromfile(f'{REPO_ROOT}/{config}')
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = _tool('segmentation_results').size_options(config, 256)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *options]).cfg_options)
    sizes = [v for _, _, v in _tool('results_common').sized_entries(
        cfg, ('crop_size', 'scale'), ('train_dataloader', 'val_dataloader', 'test_dataloader'))]
    assert sizes and set(sizes) <= {(480, 360), (256, 256)}
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (480, 360)


def _stretched(config, iters):
    from mmengine.config import Config, DictAction

    from tests.conftest import REPO_ROOT
    cfg = Config.fromfile(f'{REPO_ROOT}/{config}')
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg.merge_from_dict(parser.parse_args(
        ['--cfg-options', *_tool('results_common').stretch_options(config, iters)]).cfg_options)
    return cfg


@pytest.mark.parametrize('config', [
    'configs/fpn/fpn_effl0_1xb8-2k_camvid-1-8.py',
    'configs/mean_teacher_seg/mean-teacher_fpn_effl0_1xb16-2k_semi-1-8-camvid.py'])
def test_iters_stretch_the_poly_decay_not_only_the_loop(config):
    """``--iters 4000`` must move the end of the poly decay too: a loop cut or
    lengthened without it trains its last part at the floor learning rate."""
    cfg = _stretched(config, 4000)
    poly = cfg.param_scheduler[1]
    assert (poly['type'], poly['begin'], poly['end']) == ('PolyLR', 100, 4000)
    assert cfg.param_scheduler[0]['type'] == 'LinearLR' and cfg.param_scheduler[0]['end'] == 100
    assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval) == (4000, 2000)
    assert cfg.default_hooks.checkpoint.interval == 2000


def test_iters_scale_the_learning_rate_steps_of_the_pose_schedule():
    cfg = _stretched('configs/trs/trs_td-hm_effl0_1xb16-1k_semi-10pct-bee.py', 3000)
    steps = cfg.param_scheduler[1]
    assert (steps['type'], steps['milestones']) == ('MultiStepLR', [2250, 2700])
    assert cfg.param_scheduler[0]['end'] == 100  # the warm-up keeps its length
    assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval) == (3000, 3000)


def _with_options(config, options):
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(f'{REPO_ROOT}/{config}')
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *options]).cfg_options)
    return cfg


@pytest.mark.parametrize('config', [
    'configs/topdown_heatmap/td-hm_effl0_1xb8-1k_bee-10pct.py',
    'configs/trs/trs_td-hm_effl0_1xb16-1k_semi-10pct-bee.py'])
def test_input_size_reaches_every_crop_and_codec(config, tmp_path):
    """``pose_results.py --input-size 256`` must change the crops of every
    view (labeled, weak, strong, test) and every codec alike: one left at 128
    would train on targets that do not match the crops."""
    pose = _tool('pose_results')
    assert pose.config_input_size(config) == 128
    cfg = _with_options(config, pose.resize_options(config, 256))
    cfg.dump(str(tmp_path / 'resized.py'))
    # raises if any crop stayed at 128
    assert pose.config_input_size(str(tmp_path / 'resized.py')) == 256
    codecs = []

    def walk(node):
        if isinstance(node, dict):
            if 'heatmap_size' in node:
                codecs.append((tuple(node['input_size']), tuple(node['heatmap_size'])))
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk([cfg.model, cfg.train_dataloader])
    assert len(codecs) == 2 and set(codecs) == {((256, 256), (64, 64))}
    with pytest.raises(ValueError, match='whole pixels'):
        pose.resize_options(config, 250)  # heatmaps 32 * 250 / 128 = 62.5
    with pytest.raises(ValueError, match='whole pixels'):
        pose.resize_options(config, 130)


@pytest.mark.parametrize('tool,split,config', [
    ('pose_results', '10pct', 'configs/trs/oracle_td-hm_effl0_1xb16-1k_semi-10pct-bee.py'),
    ('segmentation_results', '1/8',
     'configs/mean_teacher_seg/oracle_fpn_effl0_1xb16-2k_semi-1-8-camvid.py')])
def test_oracle_diagnostic_never_writes_the_results_file(tool, split, config, capsys):
    """The oracle reads the unlabeled images' truth: asking for it without
    --out elsewhere stops before training, naming the file it would spoil."""
    script = _tool(tool)
    with pytest.raises(SystemExit):
        script.main(['--methods', 'oracle', '--seeds', '1', '--splits', split])
    err = capsys.readouterr().err
    assert "['oracle'] read the truth" in err and 'results' in err
    assert script.METHODS['oracle'][0] == config and osp.isfile(osp.join(REPO_ROOT, config))


def test_rows_find_the_work_dir_and_crop_size_of_their_run():
    """--precise-bn and --student-from-logs go back to a row's run: a 2k or
    256x256 row must not land on the 1k / 128 run of the same seed."""
    pose = _tool('pose_results')
    row = dict(method='ours_trs', split='10pct', seed=1, iters=1000, input_size=128)
    assert pose.row_run(row) == ('ours_trs_10pct_seed1', [])
    name, resize = pose.row_run(dict(row, iters=2000, input_size=256))
    assert name == 'ours_trs_10pct_seed1_it2000_in256'
    assert 'model.model.head.decoder.heatmap_size=(64,64)' in resize
    assert pose.row_run(dict(method='supervised_full', split='100pct', seed=2,
                             iters=2000))[0] == 'supervised_full_full_seed2_it2000'


def test_input_sizes_are_kept_apart_in_tables_and_pairs(tmp_path):
    table = _tool('results_table')
    rows = [dict(method=m, split='10pct', seed=s, PCK=v + (20 if size == 256 else 0),
                 iters=1000, input_size=size)
            for size in (128, 256) for m, off in (('supervised', 0), ('ours_trs', 1))
            for s, v in ((1, 40.0 + off), (2, 30.0 + off))]
    lines = table.table(rows).splitlines()
    assert lines[0].endswith('| seeds | iters | input |')
    assert '| supervised | 10pct | 35.0 ± 7.1 | 2 | 1000 | 128 |' in lines
    assert '| supervised | 10pct | 55.0 ± 7.1 | 2 | 1000 | 256 |' in lines
    pairs = table.paired(rows, 'supervised', 'PCK').splitlines()
    assert '| 10pct | 1000 @ 128 | ours_trs | 41.0 / 31.0 | +1.0 / +1.0 | +1.0 | 2/2 |' in pairs
    assert '| 10pct | 1000 @ 256 | ours_trs | 61.0 / 51.0 | +1.0 / +1.0 | +1.0 | 2/2 |' in pairs
    # The same run at another input size is another row of the results file.
    out = str(tmp_path / 'pose.json')
    for row in rows:
        _tool('results_common').upsert(out, row)
    assert len(json.load(open(out))) == len(rows)


def test_upsert_from_parallel_processes_keeps_every_row(tmp_path):
    """Two result scripts running side by side must not drop each other's rows."""
    import multiprocessing as mp
    common = _tool('results_common')
    out = str(tmp_path / 'rows.json')
    ctx = mp.get_context('fork')
    procs = [ctx.Process(target=_upsert_many, args=(common.upsert, out, seed))
             for seed in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    rows = json.load(open(out))
    assert sorted((r['seed'], r['iters']) for r in rows) == [
        (seed, iters) for seed in range(6) for iters in range(10)]
    assert not list(tmp_path.glob('rows.json.tmp*'))


def _upsert_many(upsert, out, seed):
    for iters in range(10):
        upsert(out, dict(method='supervised', split='10pct', seed=seed, iters=iters))


def test_mil_results_cross_validates_and_writes_rows(tmp_path):
    tool = _tool('mil_results')
    out = tmp_path / 'mil.json'
    rows = tool.main(['--methods', 'abmil', '--datasets', 'elephant', '--seeds', '2',
                      '--folds', '2', '--epochs', '1', '--out', str(out),
                      '--work-root', str(tmp_path / 'work')])
    row = json.load(open(out))[0]
    assert row == rows[0]
    assert (row['method'], row['split'], row['seed'], row['folds']) == ('abmil', 'elephant',
                                                                        2, 2)
    assert 0.0 <= row['accuracy'] <= 1.0 and 0.0 <= row['auc'] <= 1.0
    # Each fold trained on its own split file of seed 2 with 230 features.
    cfg = (tmp_path / 'work' / 'abmil_elephant_seed2' / 'fold1' / 'abmil_musk1-10fold.py')
    text = cfg.read_text()
    assert 'splits/elephant/seed2/fold{fold}.csv' in text and 'fold=1' in text
    assert 'in_channels=230' in text
    table = _tool('results_table').table([row])
    assert '| abmil | elephant |' in table and '| epochs |' in table


def test_mil_results_val_selection_tests_the_best_validation_epoch(tmp_path):
    """--selection val_nll validates on held-out training bags every epoch and
    tests the epoch with the lowest validation NLL; MHIM's teacher starts
    from that epoch of the baseline."""
    from mmengine.config import Config
    tool = _tool('mil_results')
    args = ['--datasets', 'musk1', '--seeds', '1', '--folds', '1', '--epochs', '2',
            '--selection', 'val_nll', '--out', str(tmp_path / 'mil.json'),
            '--work-root', str(tmp_path / 'work')]
    rows = tool.main(['--methods', 'abmil', 'ours_abmil_mhim_init'] + args)
    assert [r['selection'] for r in rows] == ['val_nll', 'val_nll']
    fold = tmp_path / 'work' / 'abmil_musk1_seed1' / 'fold0_val_nll'
    best = sorted(fold.glob('best_bag_nll_epoch_*.pth'))
    assert len(best) == 1
    cfg = Config.fromfile(str(fold / 'abmil_musk1-10fold.py'))
    assert cfg.val_dataloader.dataset.split == 'val'
    assert cfg.train_dataloader.dataset.split_file.endswith('seed1-val10/fold{fold}.csv')
    mhim = Config.fromfile(str(tmp_path / 'work' / 'ours_abmil_mhim_init_musk1_seed1' /
                               'fold0_val_nll' / 'abmil-mhim_musk1-10fold.py'))
    assert mhim.model.teacher_init == str(best[0])


def test_mil_selected_variant_is_chosen_on_validation_bags_only(tmp_path, monkeypatch):
    """ours_dsmil_select: every candidate trains on the -val10 folds and is
    validated on the held-out training bags; the lowest pooled validation NLL
    wins and its ordinary row (whole training folds) is the selected row. A
    second call reuses the cached validation runs and the row in the file."""
    from mmengine.config import Config
    tool = _tool('mil_results')
    out = tmp_path / 'mil.json'
    args = ['--methods', 'ours_dsmil_select', '--datasets', 'musk1', '--seeds', '1',
            '--folds', '1', '--epochs', '1', '--out', str(out),
            '--work-root', str(tmp_path / 'work')]
    row = tool.main(args)[0]
    candidates = row['candidates']
    assert set(candidates) == set(tool.SELECTED['ours_dsmil_select'])
    assert row['chosen'] == min(candidates, key=lambda c: candidates[c]['val_nll'])
    saved = {r['method']: r for r in json.load(open(out))}
    assert saved['ours_dsmil_select'] == row
    assert row['accuracy'] == saved[row['chosen']]['accuracy']
    assert 'selection' not in saved[row['chosen']]  # tested like every table row
    # Validation runs: 90 % of the training bags, validated on the other 10 %.
    cfg = Config.fromfile(str(tmp_path / 'work' / 'ours_dsmil_aem_lam0.5_musk1_seed1' /
                              'fold0_val_last' / 'dsmil-aem_musk1-10fold.py'))
    assert cfg.train_dataloader.dataset.split_file.endswith('seed1-val10/fold{fold}.csv')
    assert cfg.val_dataloader.dataset.split == 'val'
    assert cfg.test_dataloader.dataset.split == 'test'
    assert cfg.model.aem.loss_weight == 0.5
    # Nothing is trained again.
    monkeypatch.setattr(tool, 'run', lambda *a, **k: pytest.fail('trained again'))
    assert tool.main(args)[0] == row
    # A fresh work root (a new clone) reuses the validation results the row
    # recorded instead of training the candidates again.
    fresh = args[:-1] + [str(tmp_path / 'fresh')]
    assert tool.main(fresh)[0] == row
    # ... but a candidate the row does not know is trained.
    calls = []
    monkeypatch.setitem(tool.SELECTED, 'ours_dsmil_select',
                        tool.SELECTED['ours_dsmil_select'] + ['ours_dsmil_gated'])
    monkeypatch.setattr(tool, 'run', lambda m, *a, **k: calls.append(m) or dict(
        row, val_nll=9.0, val_accuracy=0.0))
    assert tool.main(fresh)[0]['chosen'] == row['chosen']
    assert calls == ['ours_dsmil_gated']
    text = _tool('results_table').table([row])
    assert '| ours_dsmil_select | musk1 |' in text and 'candidates' not in text


def test_mil_variant_overrides_reach_the_fold_config(tmp_path):
    """A hyper-parameter variant is its method's config with the overrides:
    the MHIM teacher's keep rate, AEM's weight."""
    tool = _tool('mil_results')
    cfg = tool.fold_config('ours_dsmil_mhim_m0.999', 'elephant', 2, 3, str(tmp_path))
    hooks = [h for h in cfg.custom_hooks if h['type'] == 'TeacherEMAHook']
    assert [h['momentum'] for h in hooks] == [0.999]
    assert cfg.model.type == 'MHIMBagClassifier' and cfg.model.aggregator.type == 'DSMIL'
    assert cfg.model.aggregator.in_channels == 230
    base = tool.fold_config('ours_dsmil_mhim', 'elephant', 2, 3, str(tmp_path))
    assert [h['momentum'] for h in base.custom_hooks] == [0.9999]
    assert tool.fold_config('ours_dsmil_aem_lam0.5', 'musk1', 1, 0,
                            str(tmp_path)).model.aem.loss_weight == 0.5
    both = tool.fold_config('ours_dsmil_mhim_aem', 'musk2', 1, 0, str(tmp_path)).model
    assert (both.type, both.aem.type, both.aem.loss_weight) == (
        'MHIMBagClassifier', 'AttentionEntropyLoss', 0.1)


def test_mil_swa_variant_tests_the_averaged_weights(tmp_path):
    """``*_swa`` variants average the weights of the second half of training
    (mmengine's EMAHook, StochasticWeightAverage) and test the average."""
    import torch
    tool = _tool('mil_results')
    cfg = tool.fold_config('ours_dsmil_mhim_swa', 'musk1', 1, 0, str(tmp_path), epochs=6)
    assert [h['type'] for h in cfg.custom_hooks] == ['TeacherEMAHook', 'EMAHook']
    assert cfg.custom_hooks[1]['ema_type'] == 'StochasticWeightAverage'
    assert cfg.custom_hooks[1]['begin_epoch'] == 3
    row = tool.run('ours_dsmil_aem_lam0.5_swa', 'musk1', 1, str(tmp_path / 'work'), folds=1,
                   epochs=2)
    assert row['swa_from_epoch'] == 1 and row['overrides'] == {'model.aem.loss_weight': 0.5}
    ckpt = torch.load(str(tmp_path / 'work' / 'ours_dsmil_aem_lam0.5_swa_musk1_seed1' / 'fold0' /
                          'epoch_2.pth'), map_location='cpu', weights_only=False)
    # The checkpoint's weights are the average; the last step's differ.
    assert set(ckpt['ema_state_dict']) > {'steps'}
    key = next(k for k in ckpt['state_dict'] if k.endswith('weight'))
    assert not torch.equal(ckpt['state_dict'][key], ckpt['ema_state_dict']['module.' + key])
    # Runner.test() after train() runs the before_run hooks again, and
    # mmengine's EMAHook would then rebuild its average from the last
    # weights; the script tests the average the checkpoint holds.
    from mmengine.runner import Runner
    cfg = tool.fold_config('ours_dsmil_aem_swa', 'musk1', 1, 0, str(tmp_path / 'direct'), epochs=2)
    runner = Runner.from_cfg(cfg)
    runner.train()
    tool._keep_averaged_weights(runner)
    runner.test()
    saved = torch.load(str(tmp_path / 'direct' / 'epoch_2.pth'), map_location='cpu',
                       weights_only=False)['state_dict']
    tested = runner.model.state_dict()
    assert all(torch.equal(tested[k], saved[k]) for k in saved)


def test_mil_mhim_init_starts_the_teacher_from_the_baseline_fold(tmp_path):
    tool = _tool('mil_results')
    args = ['--datasets', 'musk1', '--seeds', '1', '--folds', '1', '--epochs', '1',
            '--out', str(tmp_path / 'mil.json'), '--work-root', str(tmp_path / 'work')]
    import pytest
    with pytest.raises(FileNotFoundError, match='run --methods abmil first'):
        tool.main(['--methods', 'ours_abmil_mhim_init'] + args)
    tool.main(['--methods', 'abmil', 'ours_abmil_mhim_init'] + args)
    text = (tmp_path / 'work' / 'ours_abmil_mhim_init_musk1_seed1' / 'fold0' /
            'abmil-mhim_musk1-10fold.py').read_text()
    from mmengine.config import Config
    cfg = Config.fromfile(str(tmp_path / 'work' / 'ours_abmil_mhim_init_musk1_seed1' / 'fold0' /
                              'abmil-mhim_musk1-10fold.py'))
    assert cfg.model.teacher_init == str(tmp_path / 'work' / 'abmil_musk1_seed1' / 'fold0' /
                                         'epoch_1.pth')
    assert 'copy_at_start=False' in text


def test_update_readme_tables_replaces_only_the_marked_block():
    tool = _tool('update_readme_tables')
    readme = 'intro\n<!-- mil-table -->\nold\n<!-- /mil-table -->\nrest | method | split |\n'
    out = tool.update(readme, 'mil', '| new |')
    assert out == ('intro\n<!-- mil-table -->\n| new |\n<!-- /mil-table -->\n'
                   'rest | method | split |\n')
    import pytest
    with pytest.raises(KeyError, match='pose-table'):
        tool.update(readme, 'pose', '| x |')


def test_pose_results_pipeline_on_real_bee_images(tmp_path):
    load_script('tools/dataset_converters/bee_pose_to_coco.py').main(
        [f'{REPO_ROOT}/tests/data/bee_pose', '--dst', str(tmp_path / 'bee'), '--copy'])
    out = tmp_path / 'pose.json'
    rows = _tool('pose_results').main(
        ['--methods', 'supervised', '--splits', '30pct', '--seeds', '2', '--max-iters', '1',
         '--data-root', str(tmp_path / 'bee'), '--out', str(out),
         '--work-root', str(tmp_path / 'work')])
    row = json.load(open(out))[0]
    assert row == rows[0]
    assert (row['method'], row['split'], row['seed'], row['iters']) == ('supervised', '30pct',
                                                                        2, 1)
    assert 0.0 <= row['PCK'] <= 100.0 and 0.0 <= row['AP'] <= 100.0
    assert row['config'] == 'configs/topdown_heatmap/td-hm_effl0_1xb8-1k_bee-30pct.py'
    log = (tmp_path / 'work' / 'supervised_30pct_seed2_it1.train.log').read_text()
    assert 'bee_pose_train.30pct.seed2.labeled.json' in log
    # Precise BN of the saved checkpoint: new keys, the trained numbers kept;
    # a row whose checkpoint is gone is left as it is.
    gone = dict(row, method='supervised_full', split='100pct')
    _tool('results_common').upsert(str(out), gone)
    changed = _tool('pose_results').main(
        ['--precise-bn', '2', '--data-root', str(tmp_path / 'bee'), '--out', str(out),
         '--work-root', str(tmp_path / 'work')])
    assert [r['method'] for r in changed] == ['supervised']
    after = {r['method']: r for r in json.load(open(out))}
    assert 0.0 <= after['supervised']['precise_bn_PCK'] <= 100.0
    assert after['supervised']['PCK'] == row['PCK']
    assert 'precise_bn_PCK' not in after['supervised_full']


def test_reuse_resumes_a_run_stopped_part_way(tmp_path):
    """A results run killed after a checkpoint goes on from it with --reuse
    (instead of starting over), and its log keeps both parts."""
    load_script('tools/dataset_converters/bee_pose_to_coco.py').main(
        [f'{REPO_ROOT}/tests/data/bee_pose', '--dst', str(tmp_path / 'bee'), '--copy'])
    args = ['--methods', 'supervised', '--splits', '30pct', '--seeds', '1', '--max-iters', '2',
            '--checkpoint-interval', '1', '--data-root', str(tmp_path / 'bee'),
            '--out', str(tmp_path / 'pose.json'), '--work-root', str(tmp_path / 'work')]
    _tool('pose_results').main(args)
    work = tmp_path / 'work' / 'supervised_30pct_seed1_it2'
    assert sorted(p.name for p in work.glob('iter_*.pth')) == ['iter_1.pth', 'iter_2.pth']
    # Stopped after iteration 1: the final checkpoint never came.
    (work / 'iter_2.pth').unlink()
    (work / 'last_checkpoint').write_text(str(work / 'iter_1.pth'))
    rows = _tool('pose_results').main(args + ['--reuse'])
    assert rows[0]['iters'] == 2 and (work / 'iter_2.pth').is_file()
    log = (tmp_path / 'work' / 'supervised_30pct_seed1_it2.train.log').read_text()
    assert f'resumed from {work / "iter_1.pth"}' in log
    assert 'resumed epoch: 0, iter: 1' in log
    # The first run saved iterations 1 and 2; the resumed one only 2.
    assert log.count('Saving checkpoint at 1 iterations') == 1
    assert log.count('Saving checkpoint at 2 iterations') == 2


def test_pose_semi_runs_log_pseudo_keypoint_quality_from_hidden_truth():
    options = _tool('pose_results').split_options('semi', '10pct', 3, '/data/bee')
    assert ('train_dataloader.dataset.labeled.ann_file='
            'annotations/semi/bee_pose_train.10pct.seed3.labeled.json') in options
    assert ('train_dataloader.dataset.unlabeled.ann_file=annotations/semi/hidden_gt/'
            'bee_pose_train.10pct.seed3.unlabeled.json') in options
    assert 'model.hidden_gt=True' in options
    assert 'val_evaluator.1.ann_file=/data/bee/annotations/bee_pose_test.json' in options


def test_pose_rows_gain_the_student_of_the_last_validation(tmp_path):
    tool = _tool('pose_results')
    log = ('Iter(val) [3/3]    teacher/PCK: 0.3000  student/PCK: 0.1000\n'
           'Iter(val) [3/3]    teacher/PCK: 0.3742  teacher/coco/AP: 0.3375  PCK: 0.3742  '
           'coco/AP: 0.3375  student/PCK: 0.3980  student/coco/AP: 0.3675\n')
    assert tool.parse_member_metrics(log, 'student', tool.STUDENT_KEYS) == {
        'student_PCK': 39.8, 'student_AP': 36.8}
    assert tool.parse_member_metrics('no validation', 'student', tool.STUDENT_KEYS) == {}
    # Rows written before the keys existed get them from their training logs;
    # supervised rows and runs without a log stay as they are.
    out = tmp_path / 'pose.json'
    rows = [dict(method='ours_mt', split='30pct', seed=1, PCK=37.4, iters=1000),
            dict(method='ours_trs', split='10pct', seed=2, PCK=31.2, iters=1000),
            dict(method='supervised', split='30pct', seed=1, PCK=42.8, iters=1000)]
    out.write_text(json.dumps(rows))
    (tmp_path / 'ours_mt_30pct_seed1.train.log').write_text(log)
    changed = tool.main(['--student-from-logs', '--out', str(out),
                         '--work-root', str(tmp_path)])
    assert [(r['method'], r['student_PCK']) for r in changed] == [('ours_mt', 39.8)]
    after = {r['method']: r for r in json.load(open(out))}
    assert after['ours_mt']['student_AP'] == 36.8 and after['ours_mt']['PCK'] == 37.4
    assert 'student_PCK' not in after['ours_trs'] and 'student_PCK' not in after['supervised']


def test_table_prints_published_rows_as_published():
    rows = [dict(method='abmil', split='musk1', seed=s, accuracy=v, epochs=40)
            for s, v in ((1, 0.88), (2, 0.86))]
    rows.append(dict(method='abmil (Ilse et al. 2018)', split='musk1', accuracy=0.892,
                     std=dict(accuracy=0.04), published='Ilse et al., ICML 2018'))
    text = _tool('results_table').table(rows)
    assert '| abmil | musk1 | 0.870 ± 0.014 | 2 | 40 |' in text
    assert '| abmil (Ilse et al. 2018) | musk1 | 0.892 ± 0.040 | published |  |' in text


def test_seg_pseudo_label_quality_report_counts_per_class():
    import torch
    # rows: predicted class, columns: true class
    kept = torch.tensor([[8., 0., 0.], [2., 5., 0.], [0., 0., 0.]])
    every = torch.tensor([[9., 0., 1.], [3., 6., 3.], [0., 0., 1.]])
    text = _tool('seg_pseudo_label_quality').report(kept, every, ['a', 'b', 'c'], 0.9)
    assert '0.652 of the labeled pixels kept, precision 0.867' in text
    lines = {line.split()[0]: line.split() for line in text.splitlines()[2:]}
    assert lines['a'][1:5] == ['1.000', '0.833', '2', 'b']   # 2 true-a pixels kept as b
    assert lines['b'][1:3] == ['0.714', '0.833']
    assert lines['c'][1:3] == ['0.000', '0.000']


def test_paired_table_compares_each_seed_with_the_baseline_of_that_seed():
    rows = [dict(method='supervised', split='1/8', seed=s, mIoU=v, iters=2000)
            for s, v in ((1, 46.4), (2, 41.6), (3, 47.3))]
    rows += [dict(method='ours_fixed', split='1/8', seed=s, mIoU=v, iters=2000)
             for s, v in ((1, 45.4), (2, 43.2), (3, 45.3))]
    rows += [dict(method='ours_cutmix_fp', split='1/8', seed=3, mIoU=45.4, iters=2000),
             # another schedule length: never compared with the 2k baseline
             dict(method='ours_fixed', split='1/8', seed=1, mIoU=99.0, iters=500),
             dict(method='supervised_full', split='100pct', seed=1, mIoU=49.9, iters=2000)]
    text = _tool('results_table').paired(rows, 'supervised', 'mIoU')
    lines = text.splitlines()
    assert '| 1/8 | 2000 | ours_fixed | 45.4 / 43.2 / 45.3 | -1.0 / +1.6 / -2.0 | -0.5 | 1/3 |' \
        in lines
    assert '| 1/8 | 2000 | ours_cutmix_fp | 45.4 (seed 3) | -1.9 | -1.9 | 0/1 |' in lines
    assert '99.0' not in text and 'supervised_full' not in text
    import pytest
    with pytest.raises(KeyError, match="'abmil'"):
        _tool('results_table').paired(rows, 'abmil', 'mIoU')


def test_update_readme_tables_rewrites_paired_blocks():
    tool = _tool('update_readme_tables')
    rows = [dict(method=m, split='10pct', seed=1, PCK=v, iters=1000)
            for m, v in (('supervised', 41.9), ('ours_trs', 43.0))]
    readme = ('a\n<!-- pose-paired supervised PCK -->\nold\n<!-- /pose-paired -->\nb\n'
              '<!-- mil-paired abmil accuracy -->\nkeep\n<!-- /mil-paired -->\n')
    out = tool.update_paired(readme, 'pose', rows)
    assert 'old' not in out and 'keep' in out
    assert '| 10pct | 1000 | ours_trs | 43.0 | +1.1 | +1.1 | 1/1 |' in out
    assert out.startswith('a\n<!-- pose-paired supervised PCK -->\n| split |')
    out = tool.update_paired(readme.replace('supervised PCK', 'ours_mt PCK'), 'pose', rows)
    assert '(no `ours_mt` rows with PCK yet)\n<!-- /pose-paired -->' in out


def test_update_readme_tables_rewrites_the_docs_pages_too(tmp_path, monkeypatch):
    """The per-task pages under docs/ carry tables of their own; one run of
    the tool rewrites them with the README's."""
    tool = _tool('update_readme_tables')
    (tmp_path / 'docs' / 'results').mkdir(parents=True)
    rows = [dict(method='supervised', split='10pct', seed=1, PCK=41.9, iters=1000)]
    (tmp_path / 'docs' / 'results' / 'pose.json').write_text(json.dumps(rows))
    (tmp_path / 'README.md').write_text('r\n<!-- pose-table -->\nold\n<!-- /pose-table -->\n')
    (tmp_path / 'docs' / 'pose.md').write_text(
        'p\n<!-- pose-paired supervised PCK -->\nold\n<!-- /pose-paired -->\n')
    monkeypatch.setattr(tool, 'ROOT', str(tmp_path))
    monkeypatch.setattr(tool, 'FIGURES', {})
    tool.main()
    assert '| supervised | 10pct | 41.9 | 1 | 1000 |' in (tmp_path / 'README.md').read_text()
    page = (tmp_path / 'docs' / 'pose.md').read_text()
    assert 'old' not in page
    assert '| 10pct | 1000 | supervised | 41.9 (seed 1) | | | |' in page


def _plot_rows():
    rows = []
    for seed, (sup, ours) in enumerate([(36.0, 38.0), (31.0, 35.5), (34.0, 33.0)], start=1):
        rows += [dict(method='supervised', split='10pct', seed=seed, PCK=sup, iters=1000),
                 dict(method='ours_trs', split='10pct', seed=seed, PCK=ours, iters=1000)]
    rows += [dict(method='supervised_full', split='100pct', seed=1, PCK=40.0, iters=1000),
             dict(method='supervised', split='10pct', seed=1, PCK=1.0, iters=4),  # smoke run
             dict(method='abmil', split='10pct', published='Ilse et al.', PCK=50.0)]
    return rows


def test_plot_results_draws_the_recipe_asked_for():
    """A recipe with fewer runs (another schedule length or input size) is
    drawn when named; a recipe without runs is an error that lists those
    there are."""
    plot = _tool('plot_results')
    runs, length = plot._runs(_plot_rows(), 'PCK', recipe=(4, None))
    assert length == '4 iters' and runs['10pct'] == {'supervised': {1: 1.0}}
    rows = [dict(r, input_size=256) for r in _plot_rows()[:2]] + _plot_rows()
    runs, length = plot._runs(rows, 'PCK', recipe=(1000, 256))
    assert length == '1000 iters, 256x256 input'
    assert runs['10pct'] == {'supervised': {1: 36.0}, 'ours_trs': {1: 38.0}}
    with pytest.raises(KeyError, match=r'\(2000, None\)'):
        plot._runs(rows, 'PCK', recipe=(2000, None))


def test_plot_results_draws_every_run_of_the_main_schedule(tmp_path):
    plot = _tool('plot_results')
    rows = _plot_rows() + [dict(method='ours_trs', split='10pct', seed=1, PCK=39.0,
                                iters=1000, selection='val')]
    runs, length = plot._runs(rows, 'PCK')
    assert length == '1000 iters'
    # Smoke runs of another length and published rows are left out; another
    # checkpoint selection is its own column.
    assert runs['10pct']['supervised'] == {1: 36.0, 2: 31.0, 3: 34.0}
    assert runs['10pct']['ours_trs (val)'] == {1: 39.0}
    assert 'abmil' not in runs['10pct'] and runs['100pct']['supervised_full'] == {1: 40.0}
    out = plot.plot(rows, 'PCK', str(tmp_path / 'pose.png'), target_gain=5,
                    methods=['supervised', 'ours_trs', 'supervised_full'])
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 100


def test_plot_results_keeps_to_one_input_size():
    """A few runs at another crop size and the same length must not replace
    the main recipe's dots of the same seed."""
    plot = _tool('plot_results')
    rows = [dict(r, input_size=128) for r in _plot_rows()]
    rows.append(dict(method='supervised', split='10pct', seed=1, PCK=56.0, iters=1000,
                     input_size=256))
    runs, recipe = plot._runs(rows, 'PCK')
    assert recipe == '1000 iters, 128x128 input'
    assert runs['10pct']['supervised'] == {1: 36.0, 2: 31.0, 3: 34.0}


def test_plot_results_names_the_keys_it_has_when_the_metric_is_missing(tmp_path):
    path = tmp_path / 'pose.json'
    path.write_text(json.dumps(_plot_rows()))
    with pytest.raises(SystemExit, match=r"pose.json: no run has the metric 'mIoU'.*'PCK'"):
        _tool('plot_results').main([str(path), '--metric', 'mIoU', '--out',
                                    str(tmp_path / 'x.png')])


def test_log_scalars_averages_keys_over_an_iteration_range(tmp_path, capsys):
    tool = _tool('log_scalars')
    log = tmp_path / 'train.log'
    log.write_text(
        '2026/11/23 - mmengine - INFO - Iter(train) [ 500/2000]  lr: 1e-3  pl_num_Pole: 9.0  '
        'pl_num_Road: 90.0  thr_Pole: 0.9\n'
        '2026/11/23 - mmengine - INFO - Iter(train) [1000/2000]  lr: 5.0e-04  '
        'pl_num_Pole: 1.0  pl_num_Road: 30.0  thr_Pole: 0.7\n'
        '2026/11/23 - mmengine - INFO - Iter(val) [26/26]  mIoU: 48.0\n'
        '2026/11/23 - mmengine - INFO - Iter(train) [1050/2000]  lr: 4.9e-04  '
        'pl_num_Pole: 3.0  pl_num_Road: 50.0  thr_Pole: 0.7\n')
    means = tool.main([str(log), '--keys', 'pl_num_.*', '--from-iter', '1000', '--share',
                       '--names', 'run'])
    assert means == {'run': {'pl_num_Pole': 2.0, 'pl_num_Road': 40.0}}
    assert '4.76 %' in capsys.readouterr().out  # 2 of 42
    assert tool.mean_scalars(log.read_text(), ['thr_.*'], to_iter=500) == {'thr_Pole': 0.9}
    with pytest.raises(SystemExit, match="no training line in the range logs a key"):
        tool.main([str(log), '--keys', 'loss_.*'])


def test_log_scalars_reads_epoch_logs_nan_and_exponents(tmp_path):
    """Epoch-based logs (MIL configs) count iterations across epochs; a nan
    loss is kept (a diverged run must not look healthy); 1.2E+03 is 1200; a
    multi-number value is not a scalar; bookkeeping keys only when named."""
    tool = _tool('log_scalars')
    log = ('Epoch(train)  [2][ 50/270]  lr: 5e-4  eta: 0:01:00  time: 0.5  loss: 0.9  '
           'n: 1.2E+03\n'
           'Epoch(train) [2][100/270]  loss: nan  memory: 300\n'
           'Epoch(val) [2][10/10]  coco/bbox_mAP_copypaste: 0.412 0.801  acc: 0.5\n')
    series = tool.scalar_series(log, ['.*'], val=True)
    assert series['loss'][0] == (320, 0.9) and series['loss'][1][0] == 370
    assert math.isnan(series['loss'][1][1])
    assert series['n'] == [(320, 1200.0)] and series['acc'] == [(370, 0.5)]
    assert 'coco/bbox_mAP_copypaste' not in series
    assert 'memory' not in series and 'time' not in series
    assert tool.scalar_series(log, ['memory']) == {'memory': [(370, 300.0)]}
    path = tmp_path / 'train.log'
    path.write_text(log)
    with pytest.raises(SystemExit, match='the log has .*loss'):
        tool.main([str(path), '--keys', 'los'])


def test_log_scalars_draws_the_curves_of_two_runs_with_validation(tmp_path, capsys):
    """--plot compares runs key by key; validation lines sit at the last
    training iteration before them and are read only with --val."""
    tool = _tool('log_scalars')
    logs = []
    for name, losses, miou in (('sup', (0.9, 0.5), 40.0), ('semi', (0.8, 0.4), 42.5)):
        path = tmp_path / f'{name}.log'
        path.write_text(
            f'Iter(train) [ 50/100]  lr: 1e-3  eta: 0:01:00  time: 1.5  loss: {losses[0]}\n'
            f'Iter(train) [100/100]  lr: 1e-4  eta: 0:00:00  time: 1.5  loss: {losses[1]}\n'
            f'Iter(val) [26/26]  teacher/mIoU: {miou}  data_time: 0.1  time: 0.5\n')
        logs.append(str(path))
    out = tmp_path / 'curves.png'
    means = tool.main([*logs, '--names', 'sup', 'semi', '--keys', 'loss', '.*mIoU',
                       '--val', '--plot', str(out)])
    assert means['semi'] == {'loss': pytest.approx(0.6), 'teacher/mIoU': 42.5}
    assert tool.scalar_series(open(logs[0]).read(), ['.*mIoU'], val=True) == {
        'teacher/mIoU': [(100, 40.0)]}
    assert tool.scalar_series(open(logs[0]).read(), ['.*mIoU']) == {}
    image = matplotlib.image.imread(out)
    assert image.shape[1] > 2 * image.shape[0]  # two panels side by side
    assert '== semi' in capsys.readouterr().out
    assert tool.run_name('work_dirs/ours_fixed/20261124_0112/20261124_0112.log') == 'ours_fixed'
    assert tool.run_name('work_dirs/results/ours_u2pl_1-8_seed1.train.log') == \
        'ours_u2pl_1-8_seed1'
    with pytest.raises(SystemExit):  # one name for two logs
        tool.main([*logs, '--names', 'a', '--keys', 'loss'])


def test_pose_variant_trains_its_method_config_with_the_override(tmp_path, monkeypatch):
    """``ours_trs_thr0.4`` is ``ours_trs`` with another pseudo-keypoint
    threshold: the option reaches training, the row names it, and the plain
    method's run directory is not reused for it."""
    tool = _tool('pose_results')
    calls = []
    monkeypatch.setattr(tool, 'train', lambda config, work_dir, options, *a: (
        calls.append((config, work_dir, options)) or f'{work_dir}/iter_1000.pth'))
    monkeypatch.setattr(tool, 'test', lambda *a: {'PCK': 0.5, 'coco/AP': 0.4})
    monkeypatch.setattr(tool, 'train_log', lambda work_dir: '')
    row = tool.run('ours_trs_thr0.4', '10pct', 2, str(tmp_path), None)
    config, work_dir, options = calls[0]
    assert config == tool.METHODS['ours_trs'][0]
    assert 'model.threshold.thr=0.4' in options and 'randomness.seed=2' in options
    assert work_dir.endswith('ours_trs_thr0.4_10pct_seed2')
    assert row['overrides'] == {'model.threshold.thr': 0.4} and row['method'] == 'ours_trs_thr0.4'
    assert (row['PCK'], row['AP']) == (50.0, 40.0)
    tool.run('ours_trs', '10pct', 2, str(tmp_path), None)
    assert not any(o.startswith('model.threshold') for o in calls[1][2])
    # The variants are opt-in: the default method list leaves them out.
    monkeypatch.setattr(tool, 'run_all', lambda methods, *a, **k: methods)
    assert tool.main(['--out', str(tmp_path / 'pose.json')]) == [
        'supervised', 'supervised_full', 'ours_mt', 'ours_reviewer', 'ours_mlfl', 'ours_kpmix',
        'ours_trs', 'ours_trs_soft']
