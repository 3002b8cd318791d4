"""Runs of a sweep that differ only by ``seed``: one group each, with mean ± std and n.

A seed only re-draws the initialisation and the patches; differences between such runs are noise,
and a sweep that repeats every configuration over seeds shows how large that noise is. Used by
``srlab.report`` (markdown table) and the viewer's training view (mean curve and ±1 std band).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["SeedGroup", "curve", "group_runs", "has_seeds", "markdown_groups", "mean_std"]

SEED_KEYS = ("seed",)


def override_key(override: str) -> str:
    """``+model.lr=1`` -> ``model.lr``."""
    return str(override).lstrip("+~").split("=", 1)[0]


def _is_seed(override: str) -> bool:
    return override_key(override) in SEED_KEYS


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1); ``std`` is ``None`` for fewer than 2 values."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return None, None
    mean = math.fsum(v) / len(v)
    if len(v) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in v) / (len(v) - 1))


@dataclass
class SeedGroup:
    """Runs with the same overrides apart from ``seed``.

    Attributes:
        overrides: the group's overrides without ``seed`` (all of them, shared ones included).
        varying: the overrides that tell this group from the other groups.
        runs: :class:`srlab.report.Run` objects of the group.
    """

    overrides: tuple[str, ...]
    varying: tuple[str, ...]
    runs: list = field(default_factory=list)

    @property
    def label(self) -> str:
        return " ".join(self.varying) or "all runs"

    @property
    def scored(self) -> list:
        """Runs that validated at least once (the ones n counts)."""
        return [r for r in self.runs if r.best_psnr is not None]

    @property
    def n(self) -> int:
        return len(self.scored)

    @property
    def seeds(self) -> list[str]:
        return [
            next((o.split("=", 1)[1] for o in r.overrides if _is_seed(o)), "default")
            for r in self.runs
        ]

    def stat(self, attr: str) -> tuple[float | None, float | None]:
        return mean_std([getattr(r, attr) for r in self.scored])


def _seed_order(run) -> tuple:
    """Runs of a group by seed (numerically when the seeds are numbers), then by name."""
    seed = next((o.split("=", 1)[1] for o in run.overrides if _is_seed(o)), "")
    try:
        return (0, float(seed), "", run.label)
    except ValueError:
        return (1, 0.0, seed, run.label)


def has_seeds(runs: Sequence) -> bool:
    """Whether any run sets ``seed=`` (so grouping by seed says something)."""
    return any(_is_seed(o) for r in runs for o in r.overrides)


def group_runs(runs: Sequence) -> list[SeedGroup]:
    """Group ``runs`` by their overrides without ``seed``; best mean val PSNR first."""
    keyed: dict[tuple[str, ...], list] = {}
    for r in runs:
        key = tuple(sorted(o for o in r.overrides if not _is_seed(o)))
        keyed.setdefault(key, []).append(r)
    keys = list(keyed)
    common = set(keys[0]).intersection(*keys[1:]) if keys else set()
    groups = []
    for key, members in keyed.items():
        varying = tuple(o for o in key if o not in common)
        groups.append(SeedGroup(key, varying, sorted(members, key=_seed_order)))
    return sorted(
        groups,
        key=lambda g: (g.stat("best_psnr")[0] is None, -(g.stat("best_psnr")[0] or 0.0), g.label),
    )


def curve(group: SeedGroup, x: str = "step") -> dict | None:
    """Validation PSNR of a group against ``x`` (``"step"`` or ``"time"``): mean, std, min, max.

    ``step``: at every validation step of any run, over the runs that validated there. ``time``: the
    k-th validations of the runs that recorded wall times, at their mean wall time (seeds take
    different times to reach the same step). ``None`` when no run has the data.
    """
    points: dict[float, list[float]] = {}
    if x == "step":
        for r in group.runs:
            for step, psnr in r.history:
                points.setdefault(float(step), []).append(psnr)
        xs = sorted(points)
        columns = [points[k] for k in xs]
    elif x == "time":
        timed = [r for r in group.runs if r.history and len(r.wall) == len(r.history)]
        if not timed:
            return None
        xs, columns = [], []
        for k in range(max(len(r.history) for r in timed)):
            at_k = [r for r in timed if k < len(r.history)]
            xs.append(math.fsum(r.wall[k][1] for r in at_k) / len(at_k))
            columns.append([r.history[k][1] for r in at_k])
    else:
        raise ValueError(f"x must be 'step' or 'time', got {x!r}")
    if not xs:
        return None
    stats = [mean_std(c) for c in columns]
    return {
        "x": xs,
        "mean": [m for m, _ in stats],
        "std": [s or 0.0 for _, s in stats],
        "min": [min(c) for c in columns],
        "max": [max(c) for c in columns],
        "n": [len(c) for c in columns],
    }


def _pm(mean: float | None, std: float | None, digits: int) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def markdown_groups(groups: Sequence[SeedGroup], fmt_time) -> str:
    """The seed-group table of ``srlab.report`` (``fmt_time``: seconds -> text)."""
    lines = [
        "## Seed groups",
        "",
        "Runs whose overrides differ only by `seed=` form a group: mean ± sample standard "
        "deviation (n − 1) over its runs; n counts the runs that validated.",
        "",
        "| # | group | n | seeds | val PSNR (dB) | val SSIM | bicubic PSNR | steps | time (mean) |",
        "|---|-------|--:|-------|--------------:|---------:|-------------:|------:|------------:|",
    ]
    for rank, g in enumerate(groups, start=1):
        steps = [r.steps for r in g.runs if r.steps is not None]
        cells = [
            str(rank),
            " ".join(f"`{o}`" for o in g.varying) or "all runs",
            str(g.n),
            ", ".join(g.seeds),
            _pm(*g.stat("best_psnr"), 3),
            _pm(*g.stat("best_ssim"), 4),
            _pm(g.stat("bicubic_psnr")[0], None, 3),
            "–" if not steps else str(max(steps)),
            fmt_time(g.stat("wall_s")[0]),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def training_json(groups: Sequence[SeedGroup]) -> dict:
    """The viewer's training data: per group its label, n, summary and both curves."""
    out = []
    for g in groups:
        psnr = g.stat("best_psnr")
        out.append(
            {
                "label": g.label,
                "n": g.n,
                "runs": [r.label for r in g.runs],
                "seeds": g.seeds,
                "best_psnr_mean": psnr[0],
                "best_psnr_std": psnr[1],
                "step": curve(g, "step"),
                "time": curve(g, "time"),
            }
        )
    return {"groups": out}
