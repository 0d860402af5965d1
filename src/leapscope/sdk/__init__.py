"""What integration authors import (as ``import leapscope as ls``). Depends on numpy only."""

from leapscope.sdk._builtins import *  # noqa: F403
from leapscope.sdk._builtins import __all__ as _builtins_all
from leapscope.sdk._decorators import *  # noqa: F403
from leapscope.sdk._decorators import __all__ as _decorators_all
from leapscope.sdk._runtime import cache_dir as cache_dir
from leapscope.sdk._runtime import secret as secret
from leapscope.sdk._subset import *  # noqa: F403
from leapscope.sdk._subset import __all__ as _subset_all
from leapscope.sdk._visuals import *  # noqa: F403
from leapscope.sdk._visuals import __all__ as _visuals_all

__all__ = sorted([*_builtins_all, *_decorators_all, *_subset_all, *_visuals_all, "cache_dir", "secret"])
