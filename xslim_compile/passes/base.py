"""The pass protocol, its context and an explicit runner with pre/post checks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

from torch import fx

from ..errors import XSlimError


@dataclass(frozen=True)
class PassContext:
    model_name: str                       # for error messages
    block_calls: Mapping[str, object] = field(default_factory=dict)  # capture.BlockCall per block path


@dataclass(frozen=True)
class PassResult:
    gm: fx.GraphModule
    modified: bool
    stats: Mapping[str, int] = field(default_factory=dict)


class GraphPass(Protocol):
    def __call__(self, gm: fx.GraphModule, ctx: PassContext) -> PassResult: ...


def run_passes(gm: fx.GraphModule, ctx: PassContext, passes: Sequence[GraphPass]) -> tuple[fx.GraphModule, dict]:
    """Run passes in order, linting the graph after each; return the graph and {pass name: stats}."""
    done: list[str] = []
    stats: dict[str, Mapping[str, int]] = {}
    for graph_pass in passes:
        name = type(graph_pass).__name__
        try:
            result = graph_pass(gm, ctx)
            result.gm.graph.lint()
        except XSlimError:
            raise
        except Exception as e:
            raise XSlimError(f"pass {name} failed on {ctx.model_name} after {done or 'no passes'}: "
                             f"{type(e).__name__}: {e}") from e
        if result.modified:
            result.gm.recompile()
        gm = result.gm
        stats[name] = dict(result.stats)
        done.append(name)
    return gm, stats
