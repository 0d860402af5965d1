"""Run Tensorleap integrations unmodified, through Tensorleap's own ``code-loader`` package.

``leapscope.integration.load`` sends a folder with ``leap.yaml`` (or an entry file importing
``code_loader``) here. code-loader imports the integration and records its registry and wiring;
:func:`load_tensorleap` translates them into leapscope's :class:`~leapscope.sdk.Integration`, so
check, evaluate, analysis, the server and reports treat it like a native integration.
Telemetry is off (``TL_DISABLE_ANALYTICS``) whenever leapscope is the one importing code-loader.
"""

from leapscope.integration.tensorleap._adapter import TENSORLEAP_CONFIG, find_tensorleap, load_tensorleap
from leapscope.integration.tensorleap._env import disable_telemetry, import_code_loader

__all__ = ["TENSORLEAP_CONFIG", "disable_telemetry", "find_tensorleap", "import_code_loader", "load_tensorleap"]
