"""xslim_compile: X-Slim caching as a compiler pass for diffusion transformers.

Names load lazily, so that `xslim_compile.runtime` (and later the bundle runner) can be imported
without pulling in the compile side.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "optimize": "api",
    "export": "bundle.write",
    "load": "bundle.load",
    "XSlimConfig": "config",
    "Variant": "plan",
    "Plan": "plan",
    "PlanEntry": "plan",
    "ControllerSettings": "plan",
    "calibrate": "calibrate",
    "profile": "profiling",
    "plot_trace": "report",
    "XSlimError": "errors",
    "CaptureError": "errors",
    "ConfigError": "errors",
    "UnsupportedModelError": "errors",
    "VerificationError": "errors",
    "CacheHookError": "errors",
    "ArgumentError": "errors",
    "ConcurrentCallError": "errors",
    "BundleError": "errors",
    "LoweringError": "errors",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'xslim_compile' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
