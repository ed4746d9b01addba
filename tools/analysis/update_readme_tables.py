"""Rewrite the README results tables from docs/results/*.json.

Each table sits between ``<!-- <family>-table -->`` and
``<!-- /<family>-table -->`` in README.md and is the output of
``results_table.py docs/results/<family>.json``, with the published
reference rows of ``docs/results/<family>_published.json`` where there is one.

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


def main(argv=None) -> None:
    import json
    path = osp.join(ROOT, 'README.md')
    readme = open(path).read()
    for family in ('detection', 'segmentation', 'pose', 'mil'):
        results = osp.join(ROOT, 'docs', 'results', f'{family}.json')
        if osp.isfile(results) and f'<!-- {family}-table -->' in readme:
            rows = json.load(open(results))
            published = osp.join(ROOT, 'docs', 'results', f'{family}_published.json')
            if osp.isfile(published):
                rows += json.load(open(published))
            readme = update(readme, family, results_table.table(rows))
    with open(path, 'w') as f:
        f.write(readme)


if __name__ == '__main__':
    main()
