"""Summarise a sweep without W&B: ``python -m srlab.report experiments/multirun/<date>``.

Collects every run of a Hydra multirun (grid or Optuna) — each directory under the sweep holding
``.hydra/overrides.yaml`` — and writes, into the sweep directory (or ``--out``):

* ``report.md``: one row per run sorted by best validation PSNR: the overrides that differ between
  runs (the common ones are listed above the table), best val PSNR and the SSIM of that validation,
  bicubic PSNR, the step of the best validation, steps run, wall time and the best checkpoint path;
  plus Optuna's best trial when ``optimization_results.yaml`` is there;
* ``val_psnr.png``: validation PSNR against training step, one line per run;
* with runs repeated over ``seed=``: a "Seed groups" table in ``report.md`` (runs whose overrides
  differ only by the seed: n, mean ± std of the best val PSNR/SSIM; :mod:`srlab.comparison.seeds`);
* ``report.html``: the viewer's training view (:mod:`srlab.comparison.viewer`): each group's mean
  validation PSNR and ±1 std band against step or wall time.

Per-run metrics come from ``metrics.jsonl``/``summary.json`` (written by
:class:`srlab.training.callbacks.metrics_log.MetricsLog`, any logger) or, failing that, from a CSV logger's
``metrics.csv``. Runs that trained but did not get to validate are listed with empty metrics;
folders with no record at all (a start that failed before training, e.g. a bad value) are left out
and named under the table.

Its length: reading three record formats (metrics.jsonl, summary.json, a CSV logger's file), the
table and the plot of one command; the HTML view and seed statistics are already in
srlab.comparison.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from srlab.comparison.seeds import group_runs, has_seeds, markdown_groups, training_json
from srlab.comparison.viewer import write_viewer

PLOT_NAME = "val_psnr.png"
REPORT_NAME = "report.md"
HTML_NAME = "report.html"


@dataclass
class Run:
    """One job of a sweep and what it recorded."""

    path: Path
    overrides: list[str]
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, val/psnr)
    wall: list[tuple[int, float]] = field(default_factory=list)  # (step, wall_s) of each validation
    best_psnr: float | None = None
    best_ssim: float | None = None
    best_step: int | None = None
    bicubic_psnr: float | None = None
    steps: int | None = None
    wall_s: float | None = None
    checkpoint: str | None = None
    status: str = "unknown"
    recorded: bool = False  # it wrote metrics.jsonl, summary.json or a CSV logger's metrics.csv

    @property
    def label(self) -> str:
        return self.path.name


# ---------------------------------------------------------------------- reading runs
def _read_overrides(run_dir: Path) -> list[str]:
    from omegaconf import OmegaConf

    return [str(o) for o in OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")]


def _number(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _read_jsonl(run: Run, path: Path) -> None:
    # A run resumed after a crash (resume=auto) appends to the same file and re-does the steps
    # after its checkpoint: the later record of a step supersedes the earlier one.
    scored: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a killed job
            continue
        step = rec.get("step")
        if step is not None:
            run.steps = max(run.steps or 0, int(step))
        if rec.get("wall_s") is not None:
            run.wall_s = float(rec["wall_s"])
        psnr = _number(rec.get("val/psnr"))
        if psnr is None or step is None:
            continue
        scored[int(step)] = {**rec, "val/psnr": psnr}
        if rec.get("val/psnr_bicubic") is not None:
            run.bicubic_psnr = _number(rec["val/psnr_bicubic"])
    run.history = [(step, rec["val/psnr"]) for step, rec in sorted(scored.items())]
    run.wall = [
        (step, float(rec["wall_s"]))
        for step, rec in sorted(scored.items())
        if rec.get("wall_s") is not None
    ]
    if scored:
        best = max(scored.values(), key=lambda rec: rec["val/psnr"])
        run.best_psnr, run.best_ssim, run.best_step = (
            best["val/psnr"],
            _number(best.get("val/ssim")),
            int(best["step"]),
        )


def _read_summary(run: Run, path: Path) -> None:
    s = json.loads(path.read_text())
    run.status = s.get("status", run.status)
    for attr, key in (
        ("best_psnr", "best_val_psnr"),
        ("best_ssim", "best_val_ssim"),
        ("bicubic_psnr", "val_psnr_bicubic"),
        ("wall_s", "wall_s"),
    ):
        if s.get(key) is not None:
            setattr(run, attr, float(s[key]))
    if s.get("best_step") is not None:
        run.best_step = int(s["best_step"])
    if s.get("global_step") is not None:
        run.steps = int(s["global_step"])
    run.checkpoint = s.get("best_model_path") or s.get("last_model_path") or run.checkpoint


def _read_csv(run: Run, path: Path) -> None:
    """Lightning CSVLogger ``metrics.csv``: one row per logging call, empty cells elsewhere."""
    best = None
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = _number(row.get("step"))
            if step is None:
                continue
            run.steps = max(run.steps or 0, int(step))
            psnr = _number(row.get("val/psnr"))
            if psnr is None:
                continue
            run.history.append((int(step), psnr))
            if _number(row.get("val/psnr_bicubic")) is not None:
                run.bicubic_psnr = _number(row["val/psnr_bicubic"])
            if best is None or psnr > best[0]:
                best = (psnr, _number(row.get("val/ssim")), int(step))
    if best is not None:
        run.best_psnr, run.best_ssim, run.best_step = best


def load_run(run_dir: Path) -> Run:
    """Everything srlab.report knows about one run directory."""
    run = Run(path=run_dir, overrides=_read_overrides(run_dir))
    jsonl, summary = run_dir / "metrics.jsonl", run_dir / "summary.json"
    if jsonl.is_file():
        _read_jsonl(run, jsonl)
        run.recorded = True
    else:
        csv_files = sorted(run_dir.glob("**/metrics.csv"))
        if csv_files:
            _read_csv(run, csv_files[0])
            run.recorded = True
    if summary.is_file():
        _read_summary(run, summary)
        run.recorded = True
    if run.checkpoint is None:
        for name in ("best.ckpt", "last.ckpt"):
            if (run_dir / "checkpoints" / name).is_file():
                run.checkpoint = str((run_dir / "checkpoints" / name).resolve())
                break
    run.history.sort()
    return run


def find_runs(sweep_dir: Path) -> list[Run]:
    """Every run under ``sweep_dir`` (the directories holding ``.hydra/overrides.yaml``)."""
    dirs = sorted({p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml")})
    # A multirun's own directory may hold a .hydra too (Optuna/submitit): keep the job directories.
    jobs = [d for d in dirs if not any(o != d and d in o.parents for o in dirs)]
    return [load_run(d) for d in jobs]


# ---------------------------------------------------------------------- writing
def _varying(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Overrides shared by all runs, and each run's remaining ones."""
    if not runs:
        return [], []
    common = [o for o in runs[0].overrides if all(o in r.overrides for r in runs[1:])]
    if len(runs) == 1:
        return common, [[]]
    return common, [[o for o in r.overrides if o not in common] for r in runs]


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _relative(path: str | None, base: Path) -> str:
    if not path:
        return "–"
    p = Path(path)
    try:
        return str(p.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(p)


def sort_runs(runs: list[Run]) -> list[Run]:
    """Best validation PSNR first; runs without a validation last."""
    return sorted(runs, key=lambda r: (r.best_psnr is None, -(r.best_psnr or 0.0), r.label))


def markdown(runs: list[Run], sweep_dir: Path, unrecorded: list[Run] | None = None) -> str:
    """The report as markdown (the table sorted by PSNR); ``unrecorded`` runs (no metrics at
    all) are named under it."""
    runs = sort_runs(runs)
    common, varying = _varying(runs)
    lines = [
        f"# Sweep report: `{sweep_dir}`",
        "",
        f"{len(runs)} runs, sorted by best validation PSNR (Y, border shaved).",
    ]
    if common:
        lines += ["", "Common overrides: " + " ".join(f"`{o}`" for o in common)]
    optuna = sweep_dir / "optimization_results.yaml"
    if optuna.is_file():
        from omegaconf import OmegaConf

        res = OmegaConf.load(optuna)
        params = " ".join(f"`{k}={v}`" for k, v in (res.get("best_params") or {}).items())
        lines += ["", f"Optuna best value: **{res.get('best_value')}** with {params}"]
    lines += [
        "",
        "| # | run | overrides | val PSNR (dB) | val SSIM | bicubic PSNR | best step | steps | time | checkpoint |",
        "|---|-----|-----------|--------------:|---------:|-------------:|----------:|------:|-----:|------------|",
    ]
    for rank, (run, extra) in enumerate(zip(runs, varying, strict=True), start=1):
        cells = [
            str(rank),
            run.label,
            " ".join(f"`{o}`" for o in extra) or "–",
            _fmt(run.best_psnr, 3),
            _fmt(run.best_ssim, 4),
            _fmt(run.bicubic_psnr, 3),
            "–" if run.best_step is None else str(run.best_step),
            "–" if run.steps is None else str(run.steps),
            _fmt_time(run.wall_s),
            _relative(run.checkpoint, sweep_dir),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if unrecorded:
        names = ", ".join(f"`{r.label}`" for r in sorted(unrecorded, key=lambda r: r.label))
        lines += [
            "",
            f"Left out: {len(unrecorded)} run folder(s) without any metrics (a start that failed "
            f"before training): {names}.",
        ]
    if has_seeds(runs):  # runs repeated over seeds: one row per group, mean ± std and n
        lines += ["", markdown_groups(group_runs(runs), _fmt_time).rstrip("\n")]
    return "\n".join(lines) + "\n"


def plot(runs: list[Run], path: Path, title: str, x: str = "step") -> Path:
    """``val/psnr`` against training step (``x="step"``) or training wall time (``x="time"``),
    one line per run (legend: the overrides that differ)."""
    if x not in ("step", "time"):
        raise ValueError(f"x must be 'step' or 'time', got {x!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sort_runs(runs)
    _, varying = _varying(runs)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for run, extra in zip(runs, varying, strict=True):
        if not run.history:
            continue
        if x == "time":  # validations that recorded their wall time, in hours
            wall = dict(run.wall)
            points = [(wall[s] / 3600.0, v) for s, v in run.history if s in wall]
        else:
            points = list(run.history)
        if not points:
            continue
        xs, psnr = zip(*points, strict=True)
        label = run.label + (f" ({' '.join(extra)})" if extra else "")
        ax.plot(xs, psnr, marker="o", markersize=3, linewidth=1.5, label=label[:80])
    bicubic = [r.bicubic_psnr for r in runs if r.bicubic_psnr is not None]
    if bicubic and len({round(b, 3) for b in bicubic}) == 1:  # one validation set: one baseline
        ax.axhline(bicubic[0], color="grey", linestyle="--", linewidth=1, label="bicubic")
    ax.set_xlabel("training step" if x == "step" else "training wall time (hours)")
    ax.set_ylabel("validation PSNR (dB)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        # Below the axes: with many runs an inside legend would hide the curves.
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.12), ncol=1, frameon=False)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def report(
    sweep_dir: str | Path, out_dir: str | Path | None = None, x: str = "step"
) -> tuple[Path, Path, list[Run]]:
    """Write ``report.md`` and ``val_psnr.png`` (against ``x``: ``step`` or ``time``) for
    ``sweep_dir`` (a sweep, or one run's directory); returns their paths and the runs."""
    from srlab.errors import SrlabError

    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SrlabError(
            f"{sweep_dir}: no such directory (give a sweep directory, e.g. experiments/multirun/<date>)"
        )
    found = find_runs(sweep_dir)
    if not found:
        raise SrlabError(f"{sweep_dir}: no runs found (no */.hydra/overrides.yaml below it)")
    runs = [r for r in found if r.recorded]
    unrecorded = [r for r in found if not r.recorded]
    if not runs:
        raise SrlabError(
            f"{sweep_dir}: none of its {len(found)} run folder(s) recorded any metrics "
            "(no metrics.jsonl, summary.json or metrics.csv: each failed before training)"
        )
    out = Path(out_dir) if out_dir is not None else sweep_dir
    out.mkdir(parents=True, exist_ok=True)
    md_path = out / REPORT_NAME
    md_path.write_text(markdown(runs, sweep_dir, unrecorded))
    png_path = plot(runs, out / PLOT_NAME, f"validation PSNR — {sweep_dir}", x=x)
    # The viewer's training view: seed groups against step and wall time (srlab.comparison).
    write_viewer(
        out,
        None,
        training_json(group_runs(runs)),
        title=f"srlab sweep report: {sweep_dir}",
        filename=HTML_NAME,
    )
    return md_path, png_path, runs


def main(argv: list[str] | None = None) -> None:
    """``python -m srlab.report <sweep dir> [--out DIR]``: print the table, write report and plot."""
    from srlab.errors import user_errors

    parser = argparse.ArgumentParser(
        prog="python -m srlab.report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "sweep_dir", help="a multirun directory, e.g. experiments/multirun/2026-01-31_12-00-00"
    )
    parser.add_argument(
        "--out", default=None, help="where to write report.md and val_psnr.png (default: sweep_dir)"
    )
    parser.add_argument(
        "--x",
        choices=("step", "time"),
        default="step",
        help="x axis of val_psnr.png: training step or training wall time",
    )
    args = parser.parse_args(argv)
    with user_errors():
        md_path, png_path, _ = report(args.sweep_dir, args.out, x=args.x)
    sys.stdout.write(md_path.read_text())
    print(f"\nwrote {md_path}, {png_path} and {md_path.with_name(HTML_NAME)}")


if __name__ == "__main__":
    main()
