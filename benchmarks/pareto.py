"""Pareto comparison of method families: the frontier of each family in (speedup, metric), interpolated
on a grid of speedups, X-Slim against every other family by fixed win rules; tables and plots.

Pure functions of the quality benchmark's rows (dicts with "family", "speedup_wall", "speedup_flops"
and the metrics), so that a saved JSON can be compared and plotted again without running anything.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

METRICS = {"fd_classifier": False, "psnr": True, "paired_agreement": True}   # metric -> higher is better
AXES = {"wall": "speedup_wall", "flops": "speedup_flops"}
GRID = tuple(2.0 + 0.5 * i for i in range(9))                               # 2, 2.5, ..., 6
REFERENCE = "xslim"
NOT_COMPARED = ("full", "xslim_full")   # reference and overhead rows, at 1x
RULES = {"fd_classifier": "FD <= other's FD + 2 SE, SE = sqrt(SE_xslim^2 + SE_other^2)",
         "psnr": "PSNR strictly higher", "paired_agreement": "agreement not lower"}
EPS = 1e-9


@dataclass(frozen=True)
class Point:
    speedup: float
    value: float
    se: float = 0.0
    method: str = ""


def frontier(points: list[Point], higher_is_better: bool) -> list[Point]:
    """The points no other point beats on both speedup and value, by increasing speedup (so by
    worsening value)."""
    sign = 1.0 if higher_is_better else -1.0
    ordered = sorted(points, key=lambda p: (-p.speedup, -sign * p.value))
    kept, best = [], -math.inf
    for p in ordered:
        if sign * p.value > best:
            kept.append(p)
            best = sign * p.value
    return kept[::-1]


def interpolate(front: list[Point], speedup: float, floor: float | None = None) -> tuple[float, float] | None:
    """(value, SE) linearly between the frontier's neighbouring points; None outside the family's range
    (no extrapolation). `floor`: the family's slowest point, when the frontier starts faster than it;
    from there up to the frontier's first point that point's value holds (it is faster and no worse)."""
    if not front or speedup > front[-1].speedup + EPS:
        return None
    if speedup < front[0].speedup - EPS:
        inside = floor is not None and speedup >= floor - EPS
        return (front[0].value, front[0].se) if inside else None
    for a, b in zip(front, front[1:]):
        if a.speedup - EPS <= speedup <= b.speedup + EPS:
            w = 0.0 if b.speedup - a.speedup < EPS else (speedup - a.speedup) / (b.speedup - a.speedup)
            w = min(max(w, 0.0), 1.0)
            return a.value + w * (b.value - a.value), a.se + w * (b.se - a.se)
    return front[0].value, front[0].se   # a single point, at its own speedup


def wins(metric: str, mine: tuple[float, float], other: tuple[float, float]) -> bool:
    """Whether X-Slim's (value, SE) wins against another family's at one speedup."""
    if metric == "fd_classifier":
        return mine[0] <= other[0] + 2.0 * math.hypot(mine[1], other[1])
    if metric == "psnr":
        return mine[0] > other[0]
    if metric == "paired_agreement":
        return mine[0] >= other[0] - EPS
    raise ValueError(f"no win rule for {metric!r}; expected one of {sorted(RULES)}")


def family_points(rows: list[dict], metric: str, axis: str) -> dict[str, list[Point]]:
    """Each family's scored points on one axis ("wall" or "flops")."""
    key = AXES[axis]
    out: dict[str, list[Point]] = {}
    for row in rows:
        if row.get(key) is None or row.get(metric) is None:
            continue
        se = row.get(f"{metric}_se")
        point = Point(float(row[key]), float(row[metric]), float(se) if se is not None and math.isfinite(se) else 0.0,
                      row.get("method", ""))
        out.setdefault(row.get("family", row.get("method", "?")), []).append(point)
    return out


def frontiers(rows: list[dict], metric: str, axis: str) -> dict[str, tuple[list[Point], float]]:
    """Each family's frontier and its slowest point's speedup (where its range starts)."""
    return {family: (frontier(points, METRICS[metric]), min(p.speedup for p in points))
            for family, points in family_points(rows, metric, axis).items()}


def compare(rows: list[dict], grid=GRID, reference: str = REFERENCE) -> dict:
    """X-Slim's interpolated frontier against every other family's, per axis, metric and grid speedup.
    `comparisons`: one record per (axis, speedup, family, metric) where both have a value;
    `overall`: per (axis, speedup, family), whether X-Slim wins on every metric both have."""
    comparisons, fronts = [], {}
    for axis in AXES:
        fronts[axis] = {}
        for metric in METRICS:
            curves = frontiers(rows, metric, axis)
            fronts[axis][metric] = {f: [[p.speedup, p.value, p.se, p.method] for p in c] for f, (c, _) in curves.items()}
            mine_front, mine_floor = curves.get(reference, ([], None))
            for speedup in grid:
                mine = interpolate(mine_front, speedup, mine_floor)
                for family, (curve, floor) in curves.items():
                    other = interpolate(curve, speedup, floor)
                    if family in (reference, *NOT_COMPARED) or mine is None or other is None:
                        continue
                    comparisons.append({"axis": axis, "speedup": speedup, "family": family, "metric": metric,
                                        "xslim": mine[0], "xslim_se": mine[1], "other": other[0],
                                        "other_se": other[1], "wins": wins(metric, mine, other)})
    return {"reference": reference, "grid": list(grid), "rules": RULES, "frontiers": fronts,
            "comparisons": comparisons, "overall": _overall(comparisons)}


def _overall(comparisons: list[dict]) -> list[dict]:
    grouped: dict[tuple, dict] = {}
    for c in comparisons:
        grouped.setdefault((c["axis"], c["speedup"], c["family"]), {})[c["metric"]] = c["wins"]
    return [{"axis": a, "speedup": s, "family": f, "metrics": sorted(w), "wins_all": all(w.values())}
            for (a, s, f), w in grouped.items()]


def format_comparison(result: dict) -> str:
    """One table per axis and metric: rows are grid speedups, columns X-Slim then each family, a family's
    value marked '+' where X-Slim wins against it, '-' where it does not."""
    blocks = []
    by = {}
    for c in result["comparisons"]:
        by.setdefault((c["axis"], c["metric"]), []).append(c)
    for axis in AXES:
        for metric in METRICS:
            records = by.get((axis, metric), [])
            if not records:
                continue
            families = sorted({c["family"] for c in records})
            lines = [[f"{axis} speedup", result["reference"], *families]]
            for speedup in result["grid"]:
                at = {c["family"]: c for c in records if c["speedup"] == speedup}
                if not at:
                    continue
                mine = next(iter(at.values()))
                cells = [_cell(metric, at[f]) if f in at else "" for f in families]
                lines.append([f"{speedup:g}x", _fmt(metric, mine["xslim"], mine["xslim_se"]), *cells])
            widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
            table = "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in lines)
            blocks.append(f"{metric} by {axis} speedup (X-Slim wins '+': {RULES[metric]})\n{table}")
    return "\n\n".join(blocks) if blocks else "no speedup in the grid has X-Slim and another family both"


def _cell(metric: str, record: dict) -> str:
    return f"{_fmt(metric, record['other'], record['other_se'])} {'+' if record['wins'] else '-'}"


def _fmt(metric: str, value: float, se: float) -> str:
    digits = 3 if metric == "paired_agreement" else 1 if metric == "fd_classifier" else 2
    return f"{value:.{digits}f}±{se:.{digits}f}"


def plot(rows: list[dict], run_name: str, directory: Path, reference: str = REFERENCE) -> list[Path]:
    """One PNG per metric, two panels (wall-clock and FLOPs speedup): every family's points, its
    frontier as line and markers, X-Slim's drawn over the others."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric, higher in METRICS.items():
        fig, panels = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
        for panel, axis in zip(panels, AXES):
            _draw_panel(panel, rows, metric, axis, reference)
            panel.set_xlabel(f"{'wall-clock' if axis == 'wall' else 'FLOPs'} speedup over full compute")
            panel.axvspan(GRID[0], GRID[-1], color="0.95", zorder=0)
            panel.grid(alpha=0.3)
        panels[0].set_ylabel(f"{metric} ({'higher' if higher else 'lower'} is better)")
        if metric == "fd_classifier":
            panels[0].set_yscale("log")
        handles, labels = panels[1].get_legend_handles_labels()
        fig.suptitle(f"{metric}: Pareto frontier per family ({run_name})")
        fig.tight_layout(rect=(0, 0, 0.87, 1))
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.875, 0.5), fontsize=8)
        path = directory / f"pareto_{metric}_{run_name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _draw_panel(panel, rows: list[dict], metric: str, axis: str, reference: str) -> None:
    import matplotlib.pyplot as plt

    points = family_points(rows, metric, axis)
    if metric != "psnr" and points.get("full"):   # full compute's own value: what no method can beat by much
        panel.axhline(points["full"][0].value, color="0.4", linestyle="--", linewidth=1, label="full compute")
    palette = plt.get_cmap("tab20").colors
    colors = iter(palette[0::2] + palette[1::2])   # the strong shades first
    for family in sorted(points, key=lambda f: (f == reference, f)):
        if family in NOT_COMPARED:
            continue
        mine = family == reference
        color = "crimson" if mine else next(colors)
        front = frontier(points[family], METRICS[metric])
        panel.scatter([p.speedup for p in points[family]], [p.value for p in points[family]], s=12,
                      color=color, alpha=0.35, zorder=3 + 10 * mine)
        panel.plot([p.speedup for p in front], [p.value for p in front], marker="o", color=color,
                   linewidth=2.8 if mine else 1.2, markersize=6 if mine else 4, label=family, zorder=4 + 10 * mine)
