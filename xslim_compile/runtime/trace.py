"""A bounded record of what each call ran and why."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TraceRecord:
    call: int            # call counter since optimize()
    step: int            # denoising step index within the generation
    branch: str          # CFG branch (cache_context name) or "default"
    variant: str         # "full" | "skip" | "block" | "token"
    reason: str
    detail: str = ""     # e.g. the reused blocks
    signals: dict = field(default_factory=dict)  # controller values: indicator, estimate, err, ...

    def __str__(self) -> str:
        extra = f" [{self.detail}]" if self.detail else ""
        return f"#{self.call} step {self.step} {self.branch}: {self.variant}{extra} ({self.reason})"


class Trace(deque):
    """deque of TraceRecord with a maximum length; renders as a table."""

    def __init__(self, limit: int) -> None:
        super().__init__(maxlen=limit)

    def variants(self) -> list[str]:
        return [r.variant for r in self]

    def table(self) -> str:
        rows = [("call", "step", "branch", "variant", "detail", "indicator", "err", "reason")]
        fmt = lambda r, k: f"{r.signals[k]:.4f}" if k in r.signals else ""  # noqa: E731
        rows += [(str(r.call), str(r.step), r.branch, r.variant, r.detail, fmt(r, "indicator"), fmt(r, "err"),
                  r.reason) for r in self]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)

    def __str__(self) -> str:
        return self.table()
