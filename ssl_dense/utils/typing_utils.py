"""Type hints shared by config-driven constructors."""
from typing import List, Optional, Union

from mmengine.config import ConfigDict

__all__ = ['ConfigType', 'OptConfigType', 'MultiConfig', 'OptMultiConfig']

#: A config, as a plain dict or an mmengine ``ConfigDict``.
ConfigType = Union[ConfigDict, dict]
OptConfigType = Optional[ConfigType]
#: One config or a list of them (e.g. ``init_cfg``).
MultiConfig = Union[ConfigType, List[ConfigType]]
OptMultiConfig = Optional[MultiConfig]
