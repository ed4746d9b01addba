"""ssl_dense: semi-supervised teacher-student training for dense vision tasks."""
from .utils.checkpoint import install_checkpoint_loaders
from .version import __version__

# Keep torch.load(weights_only=True) for every checkpoint mmengine loads while
# accepting the plain types mmengine writes (see ssl_dense.utils.checkpoint).
install_checkpoint_loaders()

__all__ = ['__version__']
