"""Scope set-up: register ssl_dense modules and make it the default scope."""
import argparse
import datetime
import os.path as osp
import warnings

from mmengine import DefaultScope
from mmengine.config import Config

__all__ = ['register_all_modules', 'load_tool_config', 'set_fold']


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every ssl_dense module so that it is in the registries.

    The registries also import their modules lazily (see
    :mod:`ssl_dense.registry`); call this when code needs the modules before
    any registry lookup, e.g. in a notebook.

    Args:
        init_default_scope (bool): Make ``'ssl_dense'`` the current default
            scope. If another scope is current, a new ``DefaultScope`` instance
            with a unique name is created and a warning says so.
            Defaults to True.
    """
    import ssl_dense.datasets  # noqa: F401
    import ssl_dense.engine  # noqa: F401
    import ssl_dense.evaluation  # noqa: F401
    import ssl_dense.models  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created('ssl_dense'):
        DefaultScope.get_instance('ssl_dense', scope_name='ssl_dense')
    elif current.scope_name != 'ssl_dense':
        warnings.warn(f'The current default scope "{current.scope_name}" is not '
                      '"ssl_dense"; register_all_modules makes "ssl_dense" current.')
        DefaultScope.get_instance(f'ssl_dense-{datetime.datetime.now()}',
                                  scope_name='ssl_dense')


def load_tool_config(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply the options every tool shares.

    Applies ``--cfg-options``, ``--launcher`` and ``--work-dir``; without a
    work dir in the arguments or the config, it is
    ``work_dirs/<config file name>``, as in mmdet.

    Args:
        args (argparse.Namespace): Parsed arguments with ``config``,
            ``cfg_options``, ``launcher`` and ``work_dir``.

    Returns:
        Config: The merged config.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    fold = getattr(args, 'fold', None)
    if fold is not None:
        set_fold(cfg, fold)
        # One logger and visualizer per fold, also when folds start within
        # the same second (mmengine names them by experiment and time).
        cfg.experiment_name = f'{osp.splitext(osp.basename(args.config))[0]}_fold{fold}'
        if args.work_dir is None:
            cfg.work_dir = osp.join(cfg.work_dir, f'fold{fold}')
    return cfg


def set_fold(cfg: Config, fold: int) -> None:
    """Set ``fold`` of the dataset of every dataloader in ``cfg`` (datasets
    with a ``{fold}`` placeholder in their split file, e.g. the MIL bags),
    and fill ``{fold}`` in ``model.teacher_init`` (MHIM's teacher starts from
    the baseline checkpoint of the same fold).

    Raises:
        KeyError: No dataloader's dataset takes a ``fold``.
    """
    found = False
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset')
        if dataset is not None and 'fold' in dataset:
            dataset['fold'] = fold
            found = True
    if not found:
        raise KeyError('--fold: no dataloader of this config has a dataset with a `fold` '
                       '(cross-validation configs such as configs/mil/* have one)')
    init = (cfg.get('model') or {}).get('teacher_init')
    if isinstance(init, str) and '{fold}' in init:
        cfg.model.teacher_init = init.replace('{fold}', str(fold))
