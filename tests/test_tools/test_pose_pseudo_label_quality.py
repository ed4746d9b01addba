"""tools/analysis/pose_pseudo_label_quality.py: the numbers a user picks a
pseudo-label threshold and a reviewer distance from."""
import torch

from tests.conftest import load_script

TOOL = 'tools/analysis/pose_pseudo_label_quality.py'
CONFIG = 'configs/trs/mean-teacher_td-hm_effl0_1xb16-1k_semi-10pct-bee.py'


def _pred():
    # two images x three keypoints; heatmap diagonal 10 cells of stride 4:
    # agree_dist 0.1 -> 4 input pixels.
    teacher = torch.zeros(2, 3, 2)
    reviewer = teacher.clone()
    reviewer[0, 0] = torch.tensor([3.0, 0.0])    # 3 px off: agrees at 0.1
    reviewer[1, 1] = torch.tensor([0.0, 10.0])   # 10 px off: disagrees at 0.1
    return dict(keypoints=[teacher, reviewer],
                scores=[torch.tensor([[0.9, 0.5, 0.2], [0.8, 0.7, 0.1]]),
                        torch.tensor([[0.7, 0.5, 0.2], [0.8, 0.7, 0.9]])],
                right=torch.tensor([[True, False, True], [True, True, False]]),
                visible=torch.tensor([[True, True, True], [True, True, False]]),
                heatmap_diagonal=10.0, stride=4.0)


def test_teacher_table_counts_kept_precision_and_recall():
    rows = load_script(TOOL).quality_table(_pred(), [0.45, 0.75])
    # thr 0.45: kept 0.9, 0.5, 0.8, 0.7 -> 4 of 6; right: 3; visible right kept: 3 of 5
    assert rows[0]['kept'] == 4 / 6
    assert rows[0]['precision'] == 3 / 4 and rows[0]['recall'] == 3 / 5
    # thr 0.75: 0.9 and 0.8, both right
    assert rows[1]['precision'] == 1.0 and rows[1]['recall'] == 2 / 5


def test_reviewer_drops_disagreeing_keypoints_and_averages_scores():
    tool = load_script(TOOL)
    rows = tool.quality_table(_pred(), [0.45], agree_dist=0.1)
    # mean scores (0.8, 0.5, 0.2), (0.8, 0.7, 0.5); image 1 keypoint 1 disagrees:
    # kept 0.8, 0.5, 0.8, 0.5 -> right, wrong, right, wrong (the last is invisible)
    assert rows[0]['kept'] == 4 / 6 and rows[0]['precision'] == 2 / 4
    assert rows[0]['recall'] == 2 / 5
    # a distance below 3 px also drops image 0 keypoint 0
    assert tool.quality_table(_pred(), [0.45], agree_dist=0.05)[0]['kept'] == 3 / 6


def test_runs_on_a_semi_checkpoint_and_a_plain_one(bee_root, tmp_path):
    from mmengine.config import Config

    from ssl_dense.registry import MODELS
    from ssl_dense.utils import register_all_modules
    register_all_modules()
    tool = load_script(TOOL)
    cfg = Config.fromfile(CONFIG)
    torch.manual_seed(0)
    semi = MODELS.build(cfg.model)
    torch.save(dict(state_dict=semi.state_dict()), tmp_path / 'semi.pth')
    torch.save(dict(state_dict=semi.teacher.state_dict()), tmp_path / 'plain.pth')
    ann = 'annotations/semi/hidden_gt/bee_pose_train.10pct.seed1.unlabeled.json'
    common = ['--ann-file', ann, '--data-root', str(bee_root), '--thrs', '0.0', '0.01']
    text = tool.main([CONFIG, str(tmp_path / 'semi.pth'), '--reviewer',
                      str(tmp_path / 'plain.pth'), *common])
    # the unlabeled part of the fixture split: one bee with 31 keypoints, one empty image
    assert text.startswith('2 images, 31 visible keypoints')
    tables = text.split('\n\n')[1:]
    # the plain checkpoint is the semi one's teacher: the reviewer agrees everywhere
    assert len(tables) == 4
    body = [t.splitlines()[2:] for t in tables]
    assert body[1] == body[0] and body[3] == body[0]
    kept = [float(line.split()[1]) for line in body[0]]
    assert kept[0] >= kept[1]


def test_an_annotation_file_without_the_hidden_truth_is_named(bee_root, tmp_path):
    import pytest
    from mmengine.config import Config

    from ssl_dense.registry import MODELS
    from ssl_dense.utils import register_all_modules
    register_all_modules()
    semi = MODELS.build(Config.fromfile(CONFIG).model)
    torch.save(dict(state_dict=semi.state_dict()), tmp_path / 'semi.pth')
    ann = 'annotations/semi/bee_pose_train.10pct.seed1.unlabeled.json'   # no keypoints
    with pytest.raises(ValueError, match='bee_pose_train.10pct.seed1.unlabeled.json.*hidden'):
        load_script(TOOL).main([CONFIG, str(tmp_path / 'semi.pth'), '--ann-file', ann,
                                '--data-root', str(bee_root)])
