"""Load a user's integration, run its integration test, and trace its wiring."""

from leapscope.integration._check import load_subsets, resolve_model_source, run_integration_test
from leapscope.integration._loader import CONFIG_FILE, LoadedIntegration, load, read_config
from leapscope.integration._report import CheckReport, ModelFactory, PartResult, Predictor, prediction_names
from leapscope.integration._trace import MODEL_TARGET, Placeholder, WiringEdge
from leapscope.integration._usercode import call_user

__all__ = [
    "CONFIG_FILE",
    "MODEL_TARGET",
    "CheckReport",
    "LoadedIntegration",
    "ModelFactory",
    "PartResult",
    "Placeholder",
    "Predictor",
    "WiringEdge",
    "call_user",
    "load",
    "load_subsets",
    "prediction_names",
    "read_config",
    "resolve_model_source",
    "run_integration_test",
]
