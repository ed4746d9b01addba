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
* every image is opened (header only) for its size; a file that cannot be
  read as an image stops the tool with its name, or with ``--skip-bad`` is
  left out and listed, so training does not crash on it hours later.

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
    """(width, height) of an image file from its header.

    Raises:
        OSError: The file is not a readable image (the message names it).
    """
    from PIL import Image
    try:
        with Image.open(path) as image:
            image.verify()  # a truncated or corrupt file fails here, not at training time
        with Image.open(path) as image:
            width, height = image.size
    except Exception as err:
        raise OSError(f'{path} is not a readable image: {type(err).__name__}: {err}') from err
    if width <= 0 or height <= 0:
        raise OSError(f'{path} has an empty size {width}x{height}')
    return width, height


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
    taken = {img['file_name'] for img in labelled.get('images', [])}
    taken_names = {osp.basename(name) for name in taken}
    names = list_images(folder, recursive)
    if not names:
        where = 'sub-folders too' if recursive else '--recursive to look in sub-folders'
        raise FileNotFoundError(f'{folder} holds no images ({", ".join(EXTENSIONS)}; {where})')
    kept = [n for n in names if n not in taken and osp.basename(n) not in taken_names]
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
