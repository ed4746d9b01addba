"""Scope set-up: register ssl_dense modules and make it the default scope."""
import datetime
import warnings

from mmengine import DefaultScope

__all__ = ['register_all_modules']


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
