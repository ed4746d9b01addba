from .backbones import *  # noqa: F401,F403
from .semi import *  # noqa: F401,F403
from .tasks import *  # noqa: F401,F403
from .mil import *  # noqa: F401,F403
