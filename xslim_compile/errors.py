"""Errors raised by xslim_compile. Every message says what failed, where, and what to do."""
from __future__ import annotations


class XSlimError(Exception):
    """Base class of every error xslim_compile raises on purpose."""


class CaptureError(XSlimError):
    """torch.export could not capture the model's forward."""


class UnsupportedModelError(XSlimError):
    """The model lacks a construct a variant needs (e.g. a chain of transformer blocks)."""


class VerificationError(XSlimError):
    """A built variant does not reproduce the reference within its error budget."""


class CacheHookError(XSlimError):
    """The model already carries a diffusers cache hook, which the captured graph would not see."""


class ConfigError(XSlimError, ValueError):
    """A setting does not fit the model it is applied to (e.g. a block index past the last block)."""


class ArgumentError(XSlimError, TypeError):
    """An argument of the wrong type or name (a TypeError too, so that existing handlers still apply)."""


class ConcurrentCallError(XSlimError, RuntimeError):
    """A second thread entered an optimized module while another thread's call was running."""


class BundleError(XSlimError):
    """A deployment bundle is missing a file, altered, of a newer schema, or fed the wrong inputs."""


class LoweringError(ConfigError):
    """A backend cannot lower the variants here (e.g. TensorRT without torch_tensorrt or CUDA)."""
