"""Rewrite the README results tables from docs/results/*.json.

Each table sits between ``<!-- <family>-table -->`` and
``<!-- /<family>-table -->`` in README.md and is the output of
``results_table.py docs/results/<family>.json``, with the published
reference rows of ``docs/results/<family>_published.json`` where there is one.
A run-by-run comparison sits between ``<!-- <family>-paired BASELINE METRIC -->``
and ``<!-- /<family>-paired -->`` and is the output of ``results_table.py
docs/results/<family>.json --paired BASELINE --metric METRIC``.

    python tools/analysis/update_readme_tables.py
"""
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import results_table  # noqa: E402
from results_common import ROOT  # noqa: E402


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


def main(argv=None) -> None:
    import json
    path = osp.join(ROOT, 'README.md')
    readme = open(path).read()
    for family in ('detection', 'segmentation', 'pose', 'mil'):
        results = osp.join(ROOT, 'docs', 'results', f'{family}.json')
        if not osp.isfile(results):
            continue
        rows = json.load(open(results))
        readme = update_paired(readme, family, rows)
        if f'<!-- {family}-table -->' in readme:
            published = osp.join(ROOT, 'docs', 'results', f'{family}_published.json')
            if osp.isfile(published):
                rows += json.load(open(published))
            readme = update(readme, family, results_table.table(rows))
    with open(path, 'w') as f:
        f.write(readme)


if __name__ == '__main__':
    main()
