"""A COCO json of unlabelled images from a folder, for semi-supervised training.

Most users have a labelled COCO file and a folder of unlabelled images. The
unlabelled part of a detection or pose config (``ssl_dense.SemiDataset``)
reads a COCO file too: its ``images`` (file name, width, height) and no
annotations. This tool writes that file from the folder:

* ``categories`` are copied from the labelled file (``--categories-from``),
  so the two parts name the same classes in the same order (SemiDataset
  refuses parts that do not; for pose files this also carries the keypoint
  names and skeleton);
* images the labelled file already lists (same file name) are left out, so
  no image is both labelled and unlabelled;
* every image is decoded as the training loader decodes it (OpenCV, colour,
  EXIF orientation applied), so ``width`` and ``height`` are the sizes the
  pipeline sees; a file that cannot be decoded (not an image, truncated)
  stops the tool with its name, or with ``--skip-bad`` is left out and
  listed, so training does not crash on it hours later.

``file_name`` is relative to the folder: point the unlabelled dataset's
``data_prefix=dict(img=...)`` at it. Example::

    python tools/dataset_converters/images2coco.py my_data/unlabeled \\
        --categories-from my_data/annotations/train_labeled.json \\
        --out my_data/annotations/train_unlabeled.json
"""
import argparse
import json
import os
import os.path as osp
from typing import List, Optional, Tuple

from mmengine.utils import ProgressBar

EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(folder: str, recursive: bool = False,
                extensions: Tuple[str, ...] = EXTENSIONS) -> List[str]:
    """Image paths under ``folder`` relative to it, sorted (by suffix, any case)."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{folder} is not a folder')
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [osp.relpath(osp.join(root, f), folder) for f in files
                  if f.lower().endswith(extensions)]
        if not recursive:
            break
    return sorted(found)


def image_size(path: str) -> Tuple[int, int]:
    """(width, height) of an image as mmcv's default loader sees it: decoded
    whole by OpenCV in colour, which applies the EXIF orientation (a photo
    taken upright on its side reports its height as width in the header).

    Raises:
        OSError: The file cannot be decoded, e.g. it is not an image or is
            truncated (the message names it).
    """
    import cv2
    import numpy as np
    try:
        data = np.fromfile(path, dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except Exception as err:
        raise OSError(f'{path} is not a readable image: {type(err).__name__}: {err}') from err
    if image is None or image.size == 0:
        raise OSError(f'{path} is not a readable image (OpenCV cannot decode it; empty, '
                      'truncated or not an image file)')
    height, width = image.shape[:2]
    return width, height


def is_labelled(name: str, taken: List[str]) -> bool:
    """Whether the folder's image ``name`` (relative path) is one of the
    labelled file names ``taken``: the same path, or one ends with the other
    at a folder boundary (the two files may use different image prefixes)."""
    return any(name == t or name.endswith('/' + t) or t.endswith('/' + name) for t in taken)


def images_to_coco(folder: str, categories_from: str, recursive: bool = False,
                   skip_bad: bool = False) -> Tuple[dict, List[str], int]:
    """The unlabelled COCO dict of ``folder``.

    Args:
        folder (str): Folder of unlabelled images.
        categories_from (str): Labelled COCO json whose ``categories`` are
            copied and whose images are left out.
        recursive (bool): Also take images in sub-folders. Defaults to False.
        skip_bad (bool): Leave out unreadable files instead of failing.
            Defaults to False.

    Returns:
        tuple: (COCO dict, unreadable files left out, images left out because
        the labelled file lists them).
    """
    with open(categories_from) as f:
        labelled = json.load(f)
    if not labelled.get('categories'):
        raise KeyError(f'{categories_from} has no "categories" to copy')
    taken = sorted({osp.normpath(img['file_name']).replace(os.sep, '/')
                    for img in labelled.get('images', [])})
    names = list_images(folder, recursive)
    if not names:
        where = 'sub-folders too' if recursive else '--recursive to look in sub-folders'
        raise FileNotFoundError(f'{folder} holds no images ({", ".join(EXTENSIONS)}; {where})')
    kept = [n for n in names if not is_labelled(n.replace(os.sep, '/'), taken)]
    images, bad = [], []
    bar = ProgressBar(len(kept))
    for name in kept:
        try:
            width, height = image_size(osp.join(folder, name))
        except OSError as err:
            if not skip_bad:
                raise OSError(f'{err} (--skip-bad leaves such files out)') from err
            bad.append(name)
        else:
            images.append(dict(id=len(images) + 1, file_name=name, width=width, height=height))
        bar.update()
    coco = dict(images=images, annotations=[], categories=labelled['categories'])
    if 'info' in labelled:
        coco['info'] = labelled['info']
    return coco, bad, len(names) - len(kept)


def main(argv: Optional[List[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('folder', help='folder of unlabelled images')
    parser.add_argument('--categories-from', required=True,
                        help='the labelled COCO json (categories copied, its images left out)')
    parser.add_argument('--out', required=True, help='COCO json to write')
    parser.add_argument('--recursive', action='store_true', help='look in sub-folders too')
    parser.add_argument('--skip-bad', action='store_true',
                        help='leave out files that are not readable images (listed)')
    args = parser.parse_args(argv)
    if osp.abspath(args.out) == osp.abspath(args.categories_from):
        parser.error(f'--out {args.out} is the labelled file; write the unlabelled one elsewhere')
    coco, bad, overlap = images_to_coco(args.folder, args.categories_from, args.recursive,
                                        args.skip_bad)
    if not coco['images']:
        raise SystemExit(f'{args.folder}: no image left to write (labelled: {overlap}, '
                         f'unreadable: {len(bad)})')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(coco, f)
    print(f'\n{len(coco["images"])} unlabelled images -> {args.out} '
          f'({len(coco["categories"])} categories from {args.categories_from}; '
          f'{overlap} left out as labelled)')
    for name in bad:
        print(f'  left out, not a readable image: {osp.join(args.folder, name)}')
    return coco


if __name__ == '__main__':
    main()
