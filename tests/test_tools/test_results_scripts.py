"""Results scripts: a tiny end-to-end run, upsert semantics, the table."""
import json

from tests.conftest import load_script


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
    log = (tmp_path / 'work' / 'supervised_10pct_seed2.train.log').read_text()
    assert 'train.10pct.seed2.labeled.json' in log
    # Upsert: the same run replaces its row.
    tool.upsert(str(out), dict(row, bbox_mAP=99.0))
    assert [r['bbox_mAP'] for r in json.load(open(out))] == [99.0]
