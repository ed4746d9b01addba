"""Convert the apic.ai bee pose JSON into COCO keypoint files under data/bee_pose.

The source (``../shared/data/bee_pose``) is one JSON list of images
``{"path": "pose/<name>.png", "set": "train"|"test", "keypoints": {"<id>":
[x, y], ...}}`` with 32 keypoint ids (0-31); some images have no keypoints
and a few miss one. This writes::

    data/bee_pose/pose/                         -> the source images (a link, or --copy)
    data/bee_pose/annotations/bee_pose_train.json
    data/bee_pose/annotations/bee_pose_test.json
    data/bee_pose/annotations/semi/bee_pose_train.{10,30}pct.seed{1,2,3}.{labeled,unlabeled}.json
    data/bee_pose/annotations/semi/hidden_gt/...unlabeled.json   (annotations kept, analysis only)

in COCO keypoint format: one annotation per annotated bee, keypoints
``[x, y, v]`` (v = 2 for annotated, 0 with x = y = 0 for missing ones), a box
from the keypoint extent widened by ``--margin`` on every side (clipped to the
image), and the category's keypoint names and skeleton (1-based, as COCO
stores it) from ``configs/_base_/datasets/bee_pose.py``. Images without
keypoints are kept as images without annotations (unlabeled images for the
semi-supervised recipes). The semi-supervised splits (``tools/split_dataset.py``,
``--labeled-from-annotated``: labeled images are drawn among annotated ones,
the share counts all 191 train images) are written for ``--percents`` and
seeds 1-3.

    python tools/dataset_converters/bee_pose_to_coco.py ../shared/data/bee_pose

Bad input stops with the image at fault named: a keypoint id outside 0-31, a
keypoint outside its image, an image that cannot be read.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
from typing import Dict, List, Tuple

import cv2
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
META = osp.join(ROOT, 'configs', '_base_', 'datasets', 'bee_pose.py')
SETS = ('train', 'test')


def load_meta(path: str = META) -> Tuple[List[str], List[Tuple[int, int]]]:
    """Keypoint names (by id) and skeleton links (0-based id pairs)."""
    info = Config.fromfile(path).dataset_info
    names = [info['keypoint_info'][i]['name'] for i in range(len(info['keypoint_info']))]
    index = {n: i for i, n in enumerate(names)}
    links = [(index[s['link'][0]], index[s['link'][1]]) for s in info['skeleton_info'].values()]
    return names, links


def image_size(path: str) -> Tuple[int, int]:
    """(width, height) of an image file; a clear error when it cannot be read."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f'cannot read image {path}')
    return img.shape[1], img.shape[0]


def convert_entry(entry: dict, width: int, height: int, names: List[str],
                  margin: float) -> dict:
    """COCO keypoints, box and counts of one source entry (with keypoints)."""
    num = len(names)
    keypoints = [0.0] * (3 * num)
    xs, ys = [], []
    for key, xy in entry['keypoints'].items():
        if not str(key).isdigit() or not 0 <= int(key) < num:
            raise ValueError(f'{entry["path"]}: keypoint id {key!r} is not one of the '
                             f'{num} ids 0-{num - 1} of the dataset meta')
        if len(xy) != 2:
            raise ValueError(f'{entry["path"]}: keypoint {key} ({names[int(key)]}) must be '
                             f'[x, y], got {xy!r}')
        x, y = float(xy[0]), float(xy[1])
        if not (0 <= x < width and 0 <= y < height):
            raise ValueError(f'{entry["path"]}: keypoint {key} ({names[int(key)]}) at '
                             f'({x:g}, {y:g}) lies outside the {width}x{height} image')
        keypoints[3 * int(key):3 * int(key) + 3] = [x, y, 2]
        xs.append(x)
        ys.append(y)
    pad_x = margin * (max(xs) - min(xs)) + 1
    pad_y = margin * (max(ys) - min(ys)) + 1
    x0, y0 = max(0.0, min(xs) - pad_x), max(0.0, min(ys) - pad_y)
    x1, y1 = min(float(width), max(xs) + pad_x), min(float(height), max(ys) + pad_y)
    bbox = [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]
    return dict(keypoints=keypoints, num_keypoints=len(xs), bbox=bbox,
                area=round(bbox[2] * bbox[3], 2))


def convert(entries: List[dict], src: str, margin: float = 0.1,
            meta: str = META) -> Dict[str, dict]:
    """COCO keypoint dicts per set (``train``, ``test``) of the source entries."""
    names, links = load_meta(meta)
    category = dict(id=1, name='bee', supercategory='insect', keypoints=names,
                    skeleton=[[a + 1, b + 1] for a, b in links])
    out = {s: dict(images=[], annotations=[], categories=[category]) for s in SETS}
    for image_id, entry in enumerate(entries, 1):
        for key in ('path', 'set', 'keypoints'):
            if key not in entry:
                raise KeyError(f'entry {image_id} ({entry.get("path", "no path")}) has no '
                               f'{key!r}')
        if entry['set'] not in SETS:
            raise ValueError(f'{entry["path"]}: set {entry["set"]!r} is not one of {SETS}')
        width, height = image_size(osp.join(src, entry['path']))
        coco = out[entry['set']]
        coco['images'].append(dict(id=image_id, file_name=entry['path'], width=width,
                                   height=height))
        if entry['keypoints']:
            ann = convert_entry(entry, width, height, names, margin)
            coco['annotations'].append(dict(id=len(coco['annotations']) + 1,
                                            image_id=image_id, category_id=1, iscrowd=0,
                                            **ann))
    return out


def main(argv=None) -> Dict[str, str]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='bee pose folder with pose_dataset.json and pose/')
    parser.add_argument('--dst', default=osp.join(ROOT, 'data', 'bee_pose'))
    parser.add_argument('--margin', type=float, default=0.1,
                        help='box margin on each side, as a fraction of the keypoint extent')
    parser.add_argument('--copy', action='store_true',
                        help='copy the images instead of linking the folder')
    parser.add_argument('--percents', type=float, nargs='*', default=[10, 30],
                        help='labeled shares of train to split (seeds 1-3 each)')
    args = parser.parse_args(argv)
    src = osp.abspath(args.src)
    ann_path = osp.join(src, 'pose_dataset.json')
    if not osp.isfile(ann_path):
        parser.error(f'{ann_path} does not exist')
    with open(ann_path) as f:
        entries = json.load(f)
    out = convert(entries, src, args.margin)
    os.makedirs(osp.join(args.dst, 'annotations'), exist_ok=True)
    images = osp.join(args.dst, 'pose')
    if not osp.exists(images):
        if args.copy:
            shutil.copytree(osp.join(src, 'pose'), images)
        else:
            os.symlink(osp.join(src, 'pose'), images)
    written = {}
    for name, coco in out.items():
        path = osp.join(args.dst, 'annotations', f'bee_pose_{name}.json')
        with open(path, 'w') as f:
            json.dump(coco, f)
        written[name] = path
        missing = sum(a['num_keypoints'] < len(coco['categories'][0]['keypoints'])
                      for a in coco['annotations'])
        print(f'{path}: {len(coco["images"])} images, {len(coco["annotations"])} annotated '
              f'bees ({missing} with missing keypoints), '
              f'{len(coco["images"]) - len(coco["annotations"])} images without keypoints')
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import split_dataset
    semi = osp.join(args.dst, 'annotations', 'semi')
    for percent in args.percents:
        for out_dir, extra in ((semi, []), (osp.join(semi, 'hidden_gt'),
                                            ['--keep-unlabeled-annotations'])):
            split_dataset.main([written['train'], '--percent', f'{percent:g}', '--seed', '1',
                                '--folds', '3', '--labeled-from-annotated', '--out-dir',
                                out_dir, *extra])
    return written


if __name__ == '__main__':
    main()
