"""Defaults that depend on the machine: training precision, DataLoader workers, torch threads.

The configs ask for them through OmegaConf resolvers (registered in :mod:`srlab.cli.config`):

* ``trainer.precision: ${srlab.precision:${trainer.accelerator}}`` — ``bf16-mixed`` on CPUs with
  AMX-BF16 and CUDA GPUs with native bf16, ``32-true`` elsewhere, CPUs with only AVX512-BF16
  included. The rule (issue 12): bf16 is the default only where ``python -m srlab.bench`` measured
  its validation PSNR no more than 0.02 dB below fp32's after the same steps. On a 2-core AMX Xeon
  (docs/benchmarks-xeon-amx.md) SRCNN trained 3.3x faster in bf16 at +0.025 dB (mean of 4 seeds);
  on a 2-core AVX512-BF16 EPYC without AMX (BENCHMARKS.md) 1.9x faster at -0.037 dB (mean of 7
  seeds), so fp32 is the default there. Any explicit value (``trainer.precision=bf16-mixed``)
  replaces the resolver.
* ``data.num_workers: ${srlab.num_workers:${data.in_memory}}`` — crops of images held in RAM cost
  microseconds, so on a CPU-only machine they are cut in the training process (a worker would only
  take a core from the model); with a GPU, or images read from disk, worker processes keep the
  device fed without taking every core.
* ``torch_threads: ${srlab.torch_threads:${data.num_workers}}`` — the cores this process may use
  (``os.sched_getaffinity``, which honours ``taskset`` and container CPU sets, unlike torch's
  default of all physical cores), minus the busy loader workers: intra-op threads plus workers
  never oversubscribe the cores.

Everything here is cheap and cached: resolvers run whenever a config is resolved.
"""

from __future__ import annotations

import functools
import os

# /proc/cpuinfo flags of native bfloat16 arithmetic (Intel AMX tiles; AVX512-BF16 dot products).
# oneDNN also runs bfloat16 on plain AVX-512 by emulation, slower than float32: only these count.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# The flags under which bf16-mixed is the default training precision on a CPU: those of the
# machines where bf16 measured within 0.02 dB of fp32 (see the module doc).
BF16_DEFAULT_CPU_FLAGS = ("amx_bf16",)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where it does not exist)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.lru_cache(maxsize=1)
def cuda_has_bf16() -> bool:
    """Whether a CUDA device is present and computes bfloat16 natively (Ampere and newer)."""
    import torch

    return bool(
        torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    )


def training_device_type(accelerator: str | None) -> str:
    """``"cuda"`` or ``"cpu"``: where a Lightning ``accelerator`` (auto, cpu, gpu, cuda) trains."""
    name = str(accelerator or "auto").lower()
    if name in ("gpu", "cuda"):
        return "cuda"
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu"


def default_precision(accelerator: str | None = "auto") -> str:
    """Lightning precision for ``accelerator``: ``bf16-mixed`` on GPUs with native bf16 and on CPUs
    with AMX-BF16, else ``32-true`` (see the module doc for the measurements behind it)."""
    if training_device_type(accelerator) == "cuda":
        return "bf16-mixed" if cuda_has_bf16() else "32-true"
    return "bf16-mixed" if any(f in cpu_flags() for f in BF16_DEFAULT_CPU_FLAGS) else "32-true"


def precision_reason(precision: str, accelerator: str | None = "auto") -> str:
    """One phrase saying why :func:`default_precision` chose ``precision`` (for the run's log)."""
    device = training_device_type(accelerator)
    if device == "cuda":
        return (
            "CUDA device with native bf16"
            if precision == "bf16-mixed"
            else "no native bf16 on this GPU"
        )
    flags = [f for f in BF16_CPU_FLAGS if f in cpu_flags()]
    if not flags:
        return "CPU without native bf16"
    if precision == "32-true":
        return (
            f"CPU with {'/'.join(flags)} but no AMX: bf16 trained 1.9x faster but 0.037 dB below "
            "fp32 there (BENCHMARKS.md); trainer.precision=bf16-mixed for the speed"
        )
    return f"CPU with {'/'.join(flags)}"


def settings_line(cfg, threads: int) -> str:
    """The machine-dependent settings a training config uses, for the run's log: precision (and
    whether it is this machine's default, and why), torch threads, loader workers."""
    accelerator = cfg.trainer.get("accelerator")
    precision = str(cfg.trainer.get("precision"))
    why = (
        f"srlab's default here: {precision_reason(precision, accelerator)}"
        if precision == default_precision(accelerator)
        else "set in the config"
    )
    workers = cfg.data.get("num_workers") if cfg.get("data") else None
    return f"precision {precision} ({why}); {threads} torch threads; {workers} loader workers"


def default_num_workers(in_memory: bool = True) -> int:
    """DataLoader workers: 0 for in-RAM images on a CPU-only machine, else a few, one core spared.

    In-RAM crops take microseconds per patch: in the training process they cost ~1% of a CPU
    step, while a worker process would compete with the model's threads. With a GPU, the host
    must cut crops while the device computes; images read from disk (the decoded-image cache,
    or decoding) need workers anyway.
    """
    import torch

    cores = available_cores()
    if bool(in_memory) and not torch.cuda.is_available():
        return 0
    return max(1, min(4, cores - 1)) if cores > 1 else 0


def default_torch_threads(num_workers: int = 0) -> int:
    """Intra-op threads: the available cores minus the loader workers (at least 1)."""
    return max(1, available_cores() - int(num_workers or 0))


# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_KEEP_FREED_BYTES = 1 << 30


@functools.lru_cache(maxsize=1)
def tune_malloc() -> bool:
    """Keep freed memory in the process for reuse (glibc only); returns whether it applied.

    A training step allocates and frees the same large tensors (activations of tens of MB) every
    step. glibc serves such blocks with ``mmap`` and unmaps them on ``free`` (and trims the heap
    top), so every step touches fresh pages: ~14,000 page faults per step of SRCNN 9-1-5 at 64 x
    48 px, a third of the step's time on a 2-core CPU, depending on what the process allocated
    before (glibc's thresholds adapt). With ``mmap`` off for allocations (glibc still falls back
    to it where a heap cannot grow) and the heap trimmed only above 1 GiB of free memory, freed
    blocks are reused at once. The cost: up to 1 GiB of freed memory stays resident. The
    jemalloc/tcmalloc settings Intel recommends for PyTorch on CPUs do the same; with one of them
    preloaded (``LD_PRELOAD``) nothing is changed here.
    """
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ.get("LD_PRELOAD", "") for name in ("jemalloc", "tcmalloc")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
        return bool(libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES) == 1 and ok)
    except (OSError, AttributeError):
        return False


# Lightning sets this on import (lightning/fabric/__init__.py) so that checking for CUDA does not
# initialise it before DDP forks; torch then asks NVML first (torch.cuda.device_count).
_NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def skip_absent_nvml() -> bool:
    """Drop Lightning's NVML-based CUDA check where NVML cannot be loaded; returns whether it did.

    Every ``optimizer.step()`` asks ``torch.cuda.is_available()`` (torch.optim's graph-capture
    check). With the variable set, torch first tries to ``dlopen`` NVML; on a machine without
    the NVIDIA driver that fails, is not cached, and costs ~35-50 µs a call, after which torch
    falls back to the CUDA runtime's own count: ~1 µs without the variable. So where NVML is
    absent the variable changes no answer, only the cost (measured: 49 µs -> 1.4 µs per call on
    a 2-core CPU). Where NVML loads, nothing is changed.
    """
    import ctypes

    if os.environ.get(_NVML_CHECK) != "1":
        return False
    try:
        ctypes.CDLL("libnvidia-ml.so.1")  # the name torch.cuda loads
    except OSError:
        del os.environ[_NVML_CHECK]
        return True
    return False
