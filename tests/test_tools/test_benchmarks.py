"""Benchmark scripts run end to end on a tiny budget (the ratios are not checked)."""
import math

from tests.conftest import load_script


def test_ema_speed_prints_a_ratio(capsys):
    ratio = load_script('tools/benchmarks/ema_speed.py').main(['--repeats', '2',
                                                               '--model', 'effl0'])
    assert math.isfinite(ratio) and ratio > 0
    assert 'ratio ours / mmdet' in capsys.readouterr().out


def test_semi_iter_speed_runs_ours_and_the_peer(capsys, tmp_path):
    from mmengine.runner import Runner

    from tests.conftest import small_det_config
    sup = small_det_config(tmp_path / 'sup', max_iters=1, ckpt_interval=1)
    sup.experiment_name = 'bench_sup'
    Runner.from_cfg(sup).train()
    ratio = load_script('tools/benchmarks/semi_iter_speed.py').main(
        ['--checkpoint', str(tmp_path / 'sup' / 'iter_1.pth'), '--iters', '3', '--warmup', '1',
         '--rounds', '1'])
    assert math.isfinite(ratio) and ratio > 0
    assert 'ratio ours / peer' in capsys.readouterr().out


def test_seg_iter_speed_runs_semi_and_supervised(capsys, tmp_path):
    import shutil

    from tests.conftest import REPO_ROOT
    root = tmp_path / 'camvid'
    shutil.copytree(f'{REPO_ROOT}/tests/data/camvid', root)
    load_script('tools/split_dataset.py').main([str(root / 'train'), '--fraction', '1/8',
                                               '--out-dir', str(root / 'splits')])
    ratio = load_script('tools/benchmarks/seg_iter_speed.py').main(
        ['--data-root', str(root), '--iters', '2', '--warmup', '1', '--rounds', '1'])
    assert math.isfinite(ratio) and ratio > 0
    assert 'ratio semi / supervised' in capsys.readouterr().out


def test_mil_scale_transmil_builds_no_n_by_n_attention():
    """TransMIL on a bag of 8,000 instances: a full attention matrix would
    take 4 heads x 8000^2 float32 = 1 GB for one step; Nystrom attention
    stays far below (the benchmark measures the step's peak resident memory
    in a fresh process)."""
    import os
    import pytest
    if not os.path.exists('/proc/self/clear_refs'):
        pytest.skip('needs Linux /proc to measure peak memory')
    tool = load_script('tools/benchmarks/mil_scale.py')
    res = tool.measure(tool.MODELS['TransMIL'], 8000, repeats=1, threads=1)
    assert 0 < res['train']['peak_mb'] < 700, res
    assert 0 < res['predict']['peak_mb'] < 400, res
    assert res['train']['seconds'] > 0
