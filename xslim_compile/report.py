"""Pictures of what the runtime did: the step timeline of a trace, the error estimate and both lines."""
from __future__ import annotations

from pathlib import Path

from .errors import ConfigError

COLOURS = {"full": "#d62728", "block": "#ff7f0e", "token": "#2ca02c", "skip": "#c7c7c7"}


def plot_trace(trace, path: str | Path, branch: str | None = None, title: str | None = None) -> Path:
    """Draw one generation of a trace (the last `step 0` onwards, one branch) to a PNG: the variant of
    every step, and where the controller recorded them, the accumulated error with warn and crit (for a
    calibrated plan: the error calibration predicted at each position). The global matplotlib backend
    is left alone (the figure is drawn on its own Agg canvas)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plot_trace needs matplotlib (pip install matplotlib)") from e
    records = [r for r in trace if branch is None or r.branch == branch]
    if not records:
        raise ConfigError("the trace holds no records" + (f" of branch {branch!r}" if branch else ""))
    branch = branch or records[-1].branch
    records = [r for r in records if r.branch == branch]
    start = max(i for i, r in enumerate(records) if r.step == 0) if any(r.step == 0 for r in records) else 0
    records = records[start:]
    steps = [r.step for r in records]
    fig = Figure(figsize=(10, 4.5))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 3]})
    top.bar(steps, [1] * len(steps), width=1.0, color=[COLOURS.get(r.variant, "k") for r in records])
    top.set_yticks([])
    from matplotlib.patches import Patch

    top.legend(handles=[Patch(color=c, label=n) for n, c in COLOURS.items()], ncol=4, loc="upper center",
               bbox_to_anchor=(0.5, 1.6), frameon=False)
    err = [(r.step, r.signals["err"]) for r in records if "err" in r.signals]
    if err:
        bottom.plot(*zip(*err), marker="o", ms=3, label="accumulated err since the last computed step")
    since_full = [(r.step, r.signals["err_since_full"]) for r in records if "err_since_full" in r.signals]
    if since_full:
        bottom.plot(*zip(*since_full), lw=1, ls="-.", label="accumulated err since the last full step")
    estimate = [(r.step, r.signals["estimate"]) for r in records if "estimate" in r.signals]
    if estimate:
        bottom.plot(*zip(*estimate), lw=1, alpha=0.7, label="per-step estimate")
    for key, style in (("warn", "--"), ("crit", ":")):
        levels = [r.signals[key] for r in records if key in r.signals]
        if levels:
            bottom.axhline(levels[-1], ls=style, color="k", lw=1, label=f"{key} {levels[-1]:.3g}")
    bottom.set_xlabel("denoising step")
    predicted = any(r.reason.startswith("plan at") for r in records)
    bottom.set_ylabel("predicted final error" if predicted else "estimated error")
    if err or estimate:
        bottom.legend(fontsize=8)
    fig.suptitle(title or f"xslim_compile trace, branch {branch!r}", y=0.99)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
