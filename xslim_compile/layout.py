"""Pure data describing where a model's block stack is (shared by the compiler and the runtime)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BlockSpec:
    index: int                          # global index across all chains, in execution order
    path: str                           # module path, e.g. "single_transformer_blocks.3"
    chain: int                          # which chain (ModuleList) it belongs to
    inputs: tuple[str | None, ...]      # node name of the stream input per slot
    outputs: tuple[str | None, ...]     # node name of the stream output per slot (None: not produced)


@dataclass(frozen=True)
class StackSpec:
    """The block stack: chains of sibling blocks linked by the hidden-state stream.

    A slot is one tensor of the stream (e.g. "hidden_states", "encoder_hidden_states"). I is the first
    block's stream input, O the last block's stream output; slots of O the epilogue reads are `read_slots`.
    """

    slots: tuple[str, ...]
    blocks: tuple[BlockSpec, ...]
    chain_paths: tuple[str, ...]        # ModuleList path per chain
    read_slots: tuple[int, ...]         # slots of O that the epilogue consumes

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def stack_inputs(self) -> tuple[str | None, ...]:
        return self.blocks[0].inputs

    @property
    def stack_outputs(self) -> tuple[str | None, ...]:
        return self.blocks[-1].outputs

    def chain_starts(self) -> tuple[int, ...]:
        return tuple(b.index for b in self.blocks if b.index == 0 or self.blocks[b.index - 1].chain != b.chain)
