"""Set up data/camvid from a CamVid copy (SegNet version) and make the splits.

CamVid is not bundled (CC BY-NC 4.0; 30 MB). This links its six folders
(``train``, ``trainannot``, ``val``, ``valannot``, ``test``, ``testannot``)
into ``data/camvid`` and writes the seeded labeled/unlabeled splits of
``train`` that the configs use (1/8 and 1/4, seeds 1-3; 1/32 for
``segmentation_results.py --splits 1/32``) to
``data/camvid/splits`` with ``tools/split_dataset.py``::

    python tools/dataset_converters/prepare_camvid.py ../shared/data/camvid

The label maps are checked on the way: every value must be a class (0-10) or
void (11), and every map must have its image's size.
"""
import argparse
import os
import os.path as osp
import sys

import cv2
import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FOLDERS = ('train', 'trainannot', 'val', 'valannot', 'test', 'testannot')


def check(src: str) -> int:
    """Check every label map of ``src``; return the number checked."""
    count = 0
    for split in ('train', 'val', 'test'):
        for name in sorted(os.listdir(osp.join(src, split))):
            stem = osp.splitext(name)[0]
            seg_path = osp.join(src, f'{split}annot', stem + '.png')
            if not osp.isfile(seg_path):
                raise FileNotFoundError(f'{osp.join(src, split, name)} has no label map '
                                        f'{seg_path}')
            seg = cv2.imread(seg_path, cv2.IMREAD_UNCHANGED)
            img = cv2.imread(osp.join(src, split, name))
            if seg is None or img is None:
                raise ValueError(f'cannot read {seg_path} or its image')
            if seg.shape[:2] != img.shape[:2]:
                raise ValueError(f'{seg_path}: {seg.shape[:2]} differs from its image '
                                 f'{img.shape[:2]}')
            bad = np.setdiff1d(np.unique(seg), np.arange(12))
            if bad.size:
                raise ValueError(f'{seg_path}: values {bad.tolist()} are not 0-10 or void 11')
            count += 1
    return count


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='CamVid folder with train/, trainannot/, ...')
    parser.add_argument('--dst', default=osp.join(ROOT, 'data', 'camvid'))
    parser.add_argument('--no-check', action='store_true', help='skip the label-map check')
    args = parser.parse_args(argv)
    src = osp.abspath(args.src)
    missing = [f for f in FOLDERS if not osp.isdir(osp.join(src, f))]
    if missing:
        parser.error(f'{src} lacks {missing}')
    if not args.no_check:
        print(f'checked {check(src)} label maps in {src}')
    os.makedirs(args.dst, exist_ok=True)
    for folder in FOLDERS:
        link = osp.join(args.dst, folder)
        if osp.islink(link):
            os.remove(link)
        if not osp.exists(link):
            os.symlink(osp.join(src, folder), link)
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import split_dataset
    for fraction in ('1/8', '1/4', '1/32'):
        split_dataset.main([osp.join(args.dst, 'train'), '--fraction', fraction, '--seed', '1',
                            '--folds', '3', '--out-dir', osp.join(args.dst, 'splits')])
    return args.dst


if __name__ == '__main__':
    main()
