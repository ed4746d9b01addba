import pytest
import torch
from mmseg.evaluation.metrics import IoUMetric

from ssl_dense.evaluation import GroupedIoUMetric

CLASSES = ('sky', 'road', 'car')


def _sample(name, pred, label):
    return dict(img_path=f'data/camvid/test/{name}.jpg',
                pred_sem_seg=dict(data=torch.tensor(pred)[None]),
                gt_sem_seg=dict(data=torch.tensor(label)[None]))


def _samples():
    """Two 0001TP frames the model gets mostly right, one Seq05VD frame it
    gets mostly wrong; 3 is the ignore value."""
    return [
        _sample('0001TP_006690', [[0, 0], [1, 2]], [[0, 0], [1, 2]]),
        _sample('0001TP_006720', [[0, 1], [1, 1]], [[0, 0], [1, 3]]),
        _sample('Seq05VD_f00000', [[2, 2], [1, 0]], [[0, 2], [1, 1]]),
    ]


def _evaluate(metric, samples):
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_overall_and_per_group_miou_match_iou_metric_on_each_part():
    samples = _samples()
    grouped = _evaluate(GroupedIoUMetric(ignore_index=3), samples)
    assert grouped['mIoU'] == _evaluate(IoUMetric(ignore_index=3), samples)['mIoU']
    assert grouped['aAcc'] == _evaluate(IoUMetric(ignore_index=3), samples)['aAcc']
    assert grouped['aAcc_Seq05VD'] == _evaluate(IoUMetric(ignore_index=3), samples[2:])['aAcc']
    assert grouped['mIoU_0001TP'] == _evaluate(IoUMetric(ignore_index=3), samples[:2])['mIoU']
    assert grouped['mIoU_Seq05VD'] == _evaluate(IoUMetric(ignore_index=3), samples[2:])['mIoU']
    # The sequences really differ: the metric is not echoing the overall number.
    assert grouped['mIoU_0001TP'] > grouped['mIoU'] > grouped['mIoU_Seq05VD']


def test_one_group_adds_no_keys_and_unmatched_names_go_to_other():
    samples = _samples()
    plain = set(_evaluate(IoUMetric(ignore_index=3), samples))
    assert set(_evaluate(GroupedIoUMetric(ignore_index=3), samples[:2])) == plain
    metric = GroupedIoUMetric(ignore_index=3, group_pattern=r'^Seq\d+')
    keys = set(_evaluate(metric, samples))
    assert keys == plain | {f'{k}_{g}' for k in plain for g in ('Seq05', 'other')}
    assert metric.group_of('x/Seq05VD_f0.png') == 'Seq05'
    assert metric.group_of('x/0016E5_07830.png') == 'other'


def test_bad_pattern_is_named():
    with pytest.raises(ValueError, match=r"group_pattern '\(' is not a regular expression"):
        GroupedIoUMetric(group_pattern='(')


def test_group_values_are_plain_rounded_floats():
    metrics = _evaluate(GroupedIoUMetric(ignore_index=3), _samples())
    for key in ('mIoU_0001TP', 'aAcc_Seq05VD'):
        assert type(metrics[key]) is float and metrics[key] == round(metrics[key], 2)
