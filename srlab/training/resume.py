"""Finding the run to resume (``resume=auto``) and what it carries over (W&B run id).

Layout: ``${paths.experiments_dir}/${experiment_name}/<timestamp>/checkpoints/last.ckpt``. With
``resume=auto`` the run directory resolver (``hydra.run.dir`` -> :func:`run_dir`) picks the run of
the same experiment whose ``last.ckpt`` was written most recently, so the resumed run continues *in
that same directory* (its checkpoints, its W&B run, its ``train.log``); without such a run it starts
a fresh timestamped directory, as without ``resume``.
"""

from __future__ import annotations

from pathlib import Path

LAST_CKPT = Path("checkpoints") / "last.ckpt"
WANDB_ID_FILE = "wandb_run_id"


def latest_resumable_run(experiments_dir: str | Path, experiment_name: str) -> Path | None:
    """The run directory of ``experiment_name`` holding the most recently written ``last.ckpt``."""
    root = Path(experiments_dir).expanduser() / experiment_name
    candidates = [p for p in root.glob(f"*/{LAST_CKPT.as_posix()}") if p.is_file()]
    if not candidates:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime).parent.parent


def run_dir(experiment_dir: str, timestamp: str, resume: str | None = None) -> str:
    """``hydra.run.dir``: the latest resumable run with ``resume=auto``, else ``<dir>/<timestamp>``."""
    if resume == "auto":
        parent = Path(experiment_dir)
        found = latest_resumable_run(parent.parent, parent.name)
        if found is not None:
            return str(found)
    return f"{experiment_dir}/{timestamp}"


def read_wandb_id(run_directory: str | Path) -> str | None:
    """The W&B run id a run directory recorded (None if it never logged to W&B)."""
    path = Path(run_directory) / WANDB_ID_FILE
    if not path.is_file():
        return None
    run_id = path.read_text().strip()
    return run_id or None


def write_wandb_id(run_directory: str | Path, run_id: str) -> None:
    (Path(run_directory) / WANDB_ID_FILE).write_text(f"{run_id}\n")
