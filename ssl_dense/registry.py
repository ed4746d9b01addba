"""Registries of ssl_dense.

Every registry is a child of the matching mmengine root registry with the
scope ``'ssl_dense'``. Modules are imported lazily from ``locations`` the first
time a registry is searched, so a config with ``default_scope='ssl_dense'``
works without manual imports.

Task libraries live in their own scopes. A config reaches them with a scope
prefix (``type='mmdet.RetinaNet'``) or, for a whole nested dict such as a
detector or a dataset with its pipeline, with ``_scope_='mmdet'``: mmengine
then builds everything inside that dict in the mmdet scope, and ssl_dense
modules inside it are named with the ``ssl_dense.`` prefix, e.g.
``backbone=dict(type='ssl_dense.EfficientNetLite')``.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'RUNNERS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'DATASETS', 'DATA_SAMPLERS',
    'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR', 'TASK_UTILS', 'VISUALIZERS',
    'VISBACKENDS', 'THRESHOLDS'
]

_SCOPE = 'ssl_dense'

# Registries whose modules ssl_dense defines list the package that defines
# them in `locations`; the others are there so that user modules can register
# into the ssl_dense scope (lookups fall back to mmengine's parent registry).
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope=_SCOPE)
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope=_SCOPE, locations=['ssl_dense.engine'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope=_SCOPE, locations=['ssl_dense.engine'])
LOG_PROCESSORS = Registry('log_processor', parent=MMENGINE_LOG_PROCESSORS, scope=_SCOPE)

DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope=_SCOPE, locations=['ssl_dense.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope=_SCOPE,
    locations=['ssl_dense.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope=_SCOPE, locations=['ssl_dense.datasets'])

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope=_SCOPE, locations=['ssl_dense.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope=_SCOPE)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, scope=_SCOPE)
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, scope=_SCOPE, locations=['ssl_dense.models'])
#: Pseudo-label threshold policies (fixed, adaptive, dual, GMM) for every task.
THRESHOLDS = Registry('threshold', scope=_SCOPE, locations=['ssl_dense.models'])

OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope=_SCOPE)
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope=_SCOPE)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope=_SCOPE)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, scope=_SCOPE)

METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, scope=_SCOPE, locations=['ssl_dense.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, scope=_SCOPE)

VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS, scope=_SCOPE)
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS, scope=_SCOPE)
