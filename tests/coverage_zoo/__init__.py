"""Every diffusers transformer denoiser as a tiny model, with the inputs its pipeline builds (issue 11).

Each entry uses the class's default constructor arguments with only sizes reduced (layers, heads,
widths, sequence lengths), and the forward kwargs its pipeline passes at one denoising step, CFG batch
included. The parts split the classes alphabetically (part_a: AceStep .. Cosmos, ..., part_e: SanaVideo
.. ZImage). `benchmarks.coverage` runs them all; `tests/test_coverage.py` runs a fixed subset.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class Entry:
    cls: str                                  # the diffusers class name
    make: Callable[[], nn.Module]             # the tiny model (seeded, eval, fp32)
    inputs: Callable[[float, int], dict]      # (timestep in the pipeline's units, seed) -> forward kwargs
    timesteps: tuple[float, float] = (999.0, 1.0)   # the first and last timestep its pipeline passes
    pipeline: str = ""                        # the pipeline whose call the inputs follow
    config: str = ""                          # which released configuration the sizes shrink (e.g. "Wan 2.2")
    name: str = ""                            # a distinct name when one class has several entries
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return self.name or self.cls


PARTS = ("part_a", "part_b", "part_c", "part_d", "part_e")


def _parts() -> list:
    import importlib

    return [importlib.import_module(f"{__name__}.{name}") for name in PARTS]


def entries() -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    for part in _parts():
        for entry in part.ENTRIES:
            assert entry.key not in found, entry.key
            found[entry.key] = entry
    return found


def excluded() -> dict[str, str]:
    """Classes in diffusers.models.transformers that are not denoisers run by this compiler, and why."""
    return {k: v for part in _parts() for k, v in part.EXCLUDED.items()}
