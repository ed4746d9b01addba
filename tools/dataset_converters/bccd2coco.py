"""Convert the BCCD blood-cell dataset (Pascal VOC layout) to COCO json.

BCCD (https://github.com/Shenggan/BCCD_Dataset, MIT) has 364 images of
640x480 with boxes for RBC, WBC and Platelets, in VOC XML with 1-based,
inclusive pixel coordinates. Its quirks, and what this script does with them:

* Boxes touching the image border (about 550): cells cut by the frame. They
  are real objects that a detector must find, so they are kept, clipped to the
  image. Their count is reported.
* Degenerate boxes (zero width or height, e.g. BloodImage_00338 and
  BloodImage_00343 each have a point-sized RBC): they cannot be learned or
  evaluated, so they are dropped, and each is reported by file and class.
* Coordinates outside the image: clipped and reported.
* Unknown class names or unreadable XML: an error naming the file.

Usage::

    python tools/dataset_converters/bccd2coco.py ../shared/data/bccd data/bccd

writes ``data/bccd/annotations/{train,val,test,trainval}.json`` and copies the
images to ``data/bccd/images/`` (use ``--no-copy-images`` to skip copying).
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Dict, List, Tuple

CLASSES = ('RBC', 'WBC', 'Platelets')
SPLITS = ('train', 'val', 'test', 'trainval')


def parse_voc_xml(xml_path: str) -> Tuple[str, int, int, List[Tuple[str, List[float]]]]:
    """Read one VOC annotation file.

    Args:
        xml_path (str): Path of the XML file.

    Returns:
        tuple: (image file name, width, height, [(class name, [xmin, ymin,
        xmax, ymax]), ...]) with the raw VOC coordinates.
    """
    try:
        root = ET.parse(xml_path).getroot()
        filename = root.findtext('filename')
        width = int(root.findtext('size/width'))
        height = int(root.findtext('size/height'))
        objects = []
        for obj in root.iter('object'):
            name = obj.findtext('name').strip()
            box = obj.find('bndbox')
            coords = [float(box.findtext(k)) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
            objects.append((name, coords))
    except (ET.ParseError, AttributeError, TypeError, ValueError) as err:
        raise ValueError(f'{xml_path}: not a readable VOC annotation ({err})') from err
    return filename, width, height, objects


def voc_to_coco_box(coords: List[float], width: int,
                    height: int) -> Tuple[List[float], bool, bool]:
    """Convert 1-based inclusive VOC corners to a COCO ``[x, y, w, h]`` box.

    A VOC box ``xmin..xmax`` covers pixels ``xmin-1 .. xmax-1`` (0-based), so
    in continuous coordinates it spans ``[xmin - 1, xmax)``.

    Returns:
        tuple: (box clipped to the image, whether it was clipped, whether it
        touches the image border).
    """
    x1, y1, x2, y2 = coords[0] - 1, coords[1] - 1, coords[2], coords[3]
    cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    cx2, cy2 = min(max(x2, 0.0), width), min(max(y2, 0.0), height)
    clipped = (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2)
    border = cx1 <= 0 or cy1 <= 0 or cx2 >= width or cy2 >= height
    return [cx1, cy1, cx2 - cx1, cy2 - cy1], clipped, border


def convert_split(src: str, split: str, report: Counter, dropped: List[str]) -> Dict:
    """Build the COCO dict of one split listed in ``ImageSets/Main``."""
    list_file = osp.join(src, 'ImageSets', 'Main', f'{split}.txt')
    with open(list_file) as f:
        names = [line.strip() for line in f if line.strip()]
    images, annotations = [], []
    categories = [dict(id=i + 1, name=c, supercategory='cell') for i, c in enumerate(CLASSES)]
    cat_ids = {c: i + 1 for i, c in enumerate(CLASSES)}
    for image_id, stem in enumerate(names, start=1):
        xml_path = osp.join(src, 'Annotations', f'{stem}.xml')
        filename, width, height, objects = parse_voc_xml(xml_path)
        if filename != f'{stem}.jpg':  # a few VOC sets carry stale names
            filename = f'{stem}.jpg'
        if not osp.isfile(osp.join(src, 'JPEGImages', filename)):
            raise FileNotFoundError(f'{xml_path}: image {filename} is missing from JPEGImages')
        images.append(dict(id=image_id, file_name=filename,
                           width=width, height=height))
        for name, coords in objects:
            if name not in cat_ids:
                raise ValueError(f'{xml_path}: unknown class {name!r}, expected one of '
                                 f'{list(CLASSES)}')
            box, clipped, border = voc_to_coco_box(coords, width, height)
            if box[2] <= 0 or box[3] <= 0 or coords[2] <= coords[0] or coords[3] <= coords[1]:
                report['dropped_degenerate'] += 1
                dropped.append(f'{split}: {stem} {name} {coords} (zero width or height)')
                continue
            report['clipped'] += clipped
            report['border'] += border
            report['kept'] += 1
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=cat_ids[name],
                bbox=[round(v, 2) for v in box], area=round(box[2] * box[3], 2),
                iscrowd=0))
    return dict(images=images, annotations=annotations, categories=categories,
                info=dict(description=f'BCCD {split} (converted by ssl_dense bccd2coco.py)'),
                licenses=[dict(name='MIT', url='https://github.com/Shenggan/BCCD_Dataset')])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='BCCD root with Annotations/, JPEGImages/, ImageSets/')
    parser.add_argument('out', help='output root, e.g. data/bccd')
    parser.add_argument('--no-copy-images', action='store_true',
                        help='do not copy images (point data_prefix at src/JPEGImages)')
    args = parser.parse_args(argv)

    for sub in ('Annotations', 'JPEGImages', osp.join('ImageSets', 'Main')):
        if not osp.isdir(osp.join(args.src, sub)):
            parser.error(f'{args.src} is not a BCCD/VOC root: {sub}/ is missing')
    ann_dir = osp.join(args.out, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    if not args.no_copy_images:
        img_dir = osp.join(args.out, 'images')
        os.makedirs(img_dir, exist_ok=True)
        for name in sorted(os.listdir(osp.join(args.src, 'JPEGImages'))):
            shutil.copy2(osp.join(args.src, 'JPEGImages', name), osp.join(img_dir, name))

    for split in SPLITS:
        report: Counter = Counter()
        dropped: List[str] = []
        coco = convert_split(args.src, split, report, dropped)
        out_file = osp.join(ann_dir, f'{split}.json')
        with open(out_file, 'w') as f:
            json.dump(coco, f)
        print(f'{split}: {len(coco["images"])} images, {report["kept"]} boxes kept '
              f'({report["border"]} touch the border, {report["clipped"]} clipped), '
              f'{report["dropped_degenerate"]} dropped -> {out_file}')
        for line in dropped:
            print(f'  dropped {line}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
