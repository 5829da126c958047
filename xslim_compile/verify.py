"""Build-time checks: a variant must reproduce its reference; a failure names the first divergent node."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import fx, nn

from .errors import VerificationError
from .passes.graph_edit import relative_error

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10, torch.bfloat16: 1e-2, torch.float16: 2e-3}
COMPILED_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-8, torch.bfloat16: 3e-2, torch.float16: 1e-2}


def tolerance(dtype: torch.dtype, compiled: bool) -> float:
    table = COMPILED_TOLERANCE if compiled else TOLERANCE
    return table.get(dtype, table[torch.float32])


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, names: set[str] | None = None) -> None:
        super().__init__(gm)
        self.names, self.values = names, {}

    def run_node(self, n: fx.Node):
        value = super().run_node(n)
        if isinstance(value, torch.Tensor) and (self.names is None or n.name in self.names):
            self.values[n.name] = value
        return value


def record_values(gm: fx.GraphModule, args: Sequence, names: set[str] | None = None) -> dict[str, torch.Tensor]:
    recorder = _Recorder(gm, names)
    with torch.no_grad():
        recorder.run(*args)
    return recorder.values


def first_divergent_node(candidate: fx.GraphModule, candidate_args: Sequence, reference: fx.GraphModule,
                         reference_args: Sequence, tol: float, shared: set[str]) -> str:
    """Name of the first node (in the candidate's order) whose value differs from the same-named node of
    the reference graph by more than tol (relative). Only `shared` names (nodes of the captured graph
    both were rewritten from) are compared: nodes a rewrite added may reuse a name for another value."""
    ref = record_values(reference, reference_args, shared)
    got = record_values(candidate, candidate_args, set(ref))
    for node in candidate.graph.nodes:
        if "empty" in str(node.target):  # uninitialised memory, overwritten later: its values mean nothing
            continue
        a, b = got.get(node.name), ref.get(node.name)
        if a is not None and b is not None and a.shape == b.shape and a.is_floating_point():
            err = relative_error(a, b)
            if err > tol:
                return f"{node.name} ({node.target}, relative error {err:.2e})"
    return "none of the shared nodes (the difference is in nodes the rewrite added)"


def check_outputs(what: str, model_name: str, got: Sequence, want: Sequence, tol: float, locate) -> float:
    """Raise VerificationError if any floating output differs by more than tol; return the worst error."""
    worst = 0.0
    for a, b in zip(got, want):
        if isinstance(b, torch.Tensor) and b.is_floating_point():
            worst = max(worst, relative_error(a, b))
    if worst > tol or worst != worst:
        raise VerificationError(f"{model_name}: {what} differs by {worst:.2e} (budget {tol:.0e}); first "
                                f"divergent node: {locate()}")
    return worst


def first_divergent_block(model: nn.Module, kwargs: dict, gm: fx.GraphModule, args: Sequence, stack,
                          tol: float) -> str:
    """Compare each stack block's output in eager (forward hooks) with the graph's block output node."""
    eager: dict[str, torch.Tensor] = {}
    handles = []
    for block in stack.blocks:
        def hook(module, inputs, output, path=block.path):
            leaves = output if isinstance(output, (tuple, list)) else (output,)
            eager[path] = [x for x in leaves]
        # a compound block ("spatial.0+temporal.0"): its output is its last member's
        handles.append(model.get_submodule(block.path.split("+")[-1]).register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(**kwargs)
    finally:
        for h in handles:
            h.remove()
    names = {n for b in stack.blocks for n in b.outputs if n is not None}
    got = record_values(gm, args, names)
    for block in stack.blocks:
        outs = eager.get(block.path, [])
        for name in block.outputs:
            if name is None or name not in got:
                continue
            matches = [relative_error(got[name], e) for e in outs
                       if isinstance(e, torch.Tensor) and e.shape == got[name].shape]
            if matches and min(matches) > tol:
                return f"{name} (output of {block.path}, relative error {min(matches):.2e})"
    return "none of the block outputs (the difference is in the prologue or epilogue)"
