"""What every benchmark section shares: rates with their spread, timing loops, the machine's
description, and training configs composed inside the running app.

A rate is always the **median over repeats** of a timed window of several calls, after warm-up
calls that are not timed (oneDNN/cuDNN kernel selection, allocator growth, worker start-up); its
spread (lowest and highest window) is kept, so a table shows how much the machine wobbled.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass(frozen=True)
class Rate:
    """Items per second: median over timed windows, with the slowest and fastest window."""

    median: float
    low: float
    high: float
    windows: int
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, rates: Sequence[float]) -> Rate:
        if not rates:
            raise ValueError("no timed window")
        rates = tuple(float(r) for r in rates)
        return cls(statistics.median(rates), min(rates), max(rates), len(rates), rates)

    def __add__(self, other: Rate) -> Rate:
        """The windows of both measurements together (e.g. before and after another one)."""
        return Rate.of(self.values + other.values)

    def fmt(self, digits: int = 0, spread: bool = True) -> str:
        """``1,234 (1,200–1,250)``: median, then the range of the windows."""
        text = f"{self.median:,.{digits}f}"
        if spread and self.windows > 1:
            text += f" ({self.low:,.{digits}f}–{self.high:,.{digits}f})"
        return text


@dataclass
class Section:
    """One part of ``BENCHMARKS.md``: a markdown table, notes, and the headline lines it adds."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headlines: list[str] = field(default_factory=list)
    extra: str = ""  # further markdown after the table (a second table, a breakdown)

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        if self.rows:
            lines += [
                "| " + " | ".join(self.columns) + " |",
                "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|",
            ]
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
            lines.append("")
        if self.extra:
            lines += [self.extra.rstrip(), ""]
        lines += [f"{note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


def sync(device: torch.device | str) -> None:
    """Wait for queued device work (CUDA); a no-op on the CPU, whose ops are synchronous."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_windows(
    fn: Callable[[], object],
    items: float,
    warmup: int,
    window: int,
    repeats: int,
    device: torch.device | str = "cpu",
) -> Rate:
    """Rate of ``fn`` (``items`` per call): ``warmup`` calls, then ``repeats`` windows of ``window``.

    The device is synchronised at window edges only, as a training loop would run.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(window):
            fn()
        sync(device)
        rates.append(items * window / (time.perf_counter() - start))
    return Rate.of(rates)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine() -> dict[str, str]:
    """The facts a reader needs to compare a table with their own machine."""
    import lightning

    from srlab.utils.hardware import BF16_CPU_FLAGS, available_cores, cpu_flags

    flags = [f for f in ("avx512f", *BF16_CPU_FLAGS, "amx_tile") if f in cpu_flags()]
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu_model()}, {available_cores()} cores available"
        + (f" ({', '.join(flags)})" if flags else ""),
        "memory": _memory(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "none",
        "versions": f"python {platform.python_version()}, torch {torch.__version__}, "
        f"lightning {lightning.__version__}",
        "torch threads": str(torch.get_num_threads()),
    }
    commit = git_commit()
    if commit:
        info["srlab commit"] = commit
    return info


def _memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        return f"{kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def load_warning() -> str | None:
    """A warning when other processes keep the cores busy (the 1-minute load average)."""
    from srlab.utils.hardware import available_cores

    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    if load < 0.5:
        return None
    return (
        f"load average {load:.2f} on {available_cores()} cores before the benchmark started: "
        "other processes compete for the CPU and the figures may be low"
    )


@contextlib.contextmanager
def train_config(overrides: Sequence[str], output_dir: str | os.PathLike) -> Iterator:
    """Compose ``conf/train.yaml`` with ``overrides`` as ``python -m srlab.train`` would.

    Works inside a running Hydra app (``python -m srlab.bench``) and outside one (tests): the
    app's own Hydra state is put back afterwards. ``${hydra:…}`` values resolve while the
    context is open; the run directory is ``output_dir``.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from srlab.cli.config import CONFIG_DIR

    saved = HydraConfig.instance().cfg
    with contextlib.ExitStack() as stack:
        if not GlobalHydra.instance().is_initialized():
            stack.enter_context(initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"))
        # logger=csv first (the caller's overrides may change it): W&B's offline check is noise.
        cfg = compose("train", overrides=["logger=csv", *overrides], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: ${hydra:…} reads HydraConfig
    try:
        yield cfg
    finally:
        HydraConfig.instance().cfg = saved


@contextlib.contextmanager
def scratch_dir(keep: str | None = None) -> Iterator[Path]:
    """A temporary run directory (``keep`` = a fixed folder that is left in place)."""
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="srlab-bench-") as tmp:
        yield Path(tmp)


@dataclass
class Context:
    """What the sections of one ``srlab.bench`` run share.

    ``train_overrides`` go to every srlab training run (and so to the bare loop's settings);
    ``model_rate`` is the srlab training rate (patches/s) of the first network, the yardstick of
    the data path; ``headlines`` collects the lines printed last.
    """

    train_overrides: list[str]
    warmup: int
    window: int
    repeats: int
    keep_dir: str | None = None
    model_rate: float | None = None
    model_rate_label: str = ""
    headlines: list[str] = field(default_factory=list)
