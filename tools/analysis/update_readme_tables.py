"""Rewrite the results tables of README.md and docs/*.md from docs/results/*.json.

Each table sits between ``<!-- <family>-table -->`` and
``<!-- /<family>-table -->`` (in README.md or a page under docs/) and is the output of
``results_table.py docs/results/<family>.json``, with the published
reference rows of ``docs/results/<family>_published.json`` where there is one.
A run-by-run comparison sits between ``<!-- <family>-paired BASELINE METRIC -->``
and ``<!-- /<family>-paired -->`` and is the output of ``results_table.py
docs/results/<family>.json --paired BASELINE --metric METRIC``.
The figures of ``FIGURES`` (``docs/images/<name>_results.png``, every run
as a dot, by ``plot_results.py``; ``results`` names the family where the
figure's name is not one) are redrawn from the same files.

    python tools/analysis/update_readme_tables.py
"""
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import plot_results  # noqa: E402
import results_table  # noqa: E402
from results_common import ROOT  # noqa: E402

#: figure name -> plot_results.plot keyword arguments (the issues' targets as gains).
FIGURES = {
    'detection': dict(metric='bbox_mAP', title='BCCD test bbox mAP, 10 % labels'),
    'segmentation': dict(metric='mIoU', target_gain=4,
                         title='CamVid test mIoU (target: supervised 1/8 + 4)'),
    'pose': dict(metric='PCK', target_gain=5, recipe=(1000, 256),
                 methods=['supervised', 'ours_mt', 'ours_reviewer', 'ours_mlfl', 'ours_kpmix',
                          'ours_trs', 'ours_trs_soft', 'ours_trs_thr0.4', 'supervised_full'],
                 title='Bee pose test PCK@0.05 (target: supervised 10 % + 5)'),
    # The first pose recipe (every ablation row at 10 % and 30 %), drawn
    # into docs/pose.md.
    'pose_128': dict(results='pose', metric='PCK', target_gain=5, recipe=(1000, 128),
                     methods=['supervised', 'ours_mt', 'ours_reviewer', 'ours_mlfl',
                              'ours_kpmix', 'ours_trs', 'ours_trs_soft', 'supervised_full'],
                     title='Bee pose test PCK@0.05 (target: supervised 10 % + 5)'),
    'mil': dict(metric='accuracy', baseline='abmil',
                methods=['abmil', 'abmil_gated', 'abmil (val_nll)', 'ours_abmil_aem',
                         'ours_abmil_mhim', 'dsmil', 'ours_dsmil_aem', 'ours_dsmil_mhim',
                         'ours_dsmil_select', 'ours_dsmil_select_swa',
                         'transmil', 'ours_transmil_aem', 'ours_transmil_mhim'],
                title='MIL 10-fold CV accuracy, mean over folds'),
}


def update(readme: str, family: str, table: str) -> str:
    pattern = re.compile(rf'(<!-- {family}-table -->\n).*?(<!-- /{family}-table -->)', re.S)
    if not pattern.search(readme):
        raise KeyError(f'README has no <!-- {family}-table --> ... <!-- /{family}-table --> block')
    return pattern.sub(lambda m: m.group(1) + table + '\n' + m.group(2), readme)


def update_paired(readme: str, family: str, rows: list) -> str:
    """Rewrite every ``<!-- <family>-paired BASELINE METRIC -->`` block (a
    baseline without rows yet gets a line that says so)."""
    def paired(m: re.Match) -> str:
        try:
            text = results_table.paired(rows, m.group(2), m.group(3))
        except KeyError:
            text = f'(no `{m.group(2)}` rows with {m.group(3)} yet)'
        return m.group(1) + text + '\n' + m.group(4)

    pattern = re.compile(rf'(<!-- {family}-paired (\S+) (\S+) -->\n).*?(<!-- /{family}-paired -->)',
                         re.S)
    return pattern.sub(paired, readme)


def documents() -> list:
    """README.md and the Markdown pages under docs/ (the per-task notes):
    every file whose table blocks this tool rewrites."""
    import glob
    return [osp.join(ROOT, 'README.md')] + sorted(glob.glob(osp.join(ROOT, 'docs', '*.md')))


def main(argv=None) -> None:
    import json
    rows_of, table_of = {}, {}
    for family in ('detection', 'segmentation', 'pose', 'mil'):
        results = osp.join(ROOT, 'docs', 'results', f'{family}.json')
        if not osp.isfile(results):
            continue
        rows = json.load(open(results))
        rows_of[family] = rows
        published = osp.join(ROOT, 'docs', 'results', f'{family}_published.json')
        extra = json.load(open(published)) if osp.isfile(published) else []
        table_of[family] = results_table.table(rows + extra)
    for name, figure in FIGURES.items():
        figure = dict(figure)
        family = figure.pop('results', name)
        if family in rows_of:
            plot_results.plot(rows_of[family],
                              out=osp.join(ROOT, 'docs', 'images', f'{name}_results.png'),
                              **figure)
    for path in documents():
        text = open(path).read()
        for family, rows in rows_of.items():
            text = update_paired(text, family, rows)
            if f'<!-- {family}-table -->' in text:
                text = update(text, family, table_of[family])
        with open(path, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
