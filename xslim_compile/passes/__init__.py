"""Graph passes: one per file, each `(gm, ctx) -> PassResult`. Pipelines are explicit tuples."""
from .base import GraphPass, PassContext, PassResult, run_passes

__all__ = ["GraphPass", "PassContext", "PassResult", "run_passes"]
