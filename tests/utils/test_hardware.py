"""Machine-dependent defaults: precision from the CPU's bf16 flags, workers and threads."""

from __future__ import annotations

import pytest

from srlab.utils import hardware
from tests.conftest import compose_train


@pytest.fixture
def cpu_only(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    hardware.cuda_has_bf16.cache_clear()
    yield
    hardware.cuda_has_bf16.cache_clear()


@pytest.mark.parametrize(
    "flags,expected",
    [
        ({"avx512f", "amx_bf16", "amx_tile"}, "bf16-mixed"),
        # Native but measured 0.037 dB below fp32 on a Zen 4 EPYC (issue 12's 0.02 dB rule).
        ({"avx512f", "avx512_bf16"}, "32-true"),
        ({"avx512f", "avx2"}, "32-true"),  # bf16 would be emulated: slower than fp32
        (set(), "32-true"),
    ],
)
def test_cpu_precision_follows_the_bf16_flags(monkeypatch, cpu_only, flags, expected):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    assert hardware.default_precision("cpu") == expected
    assert hardware.default_precision("auto") == expected
    reason = hardware.precision_reason(expected, "cpu")
    assert reason.startswith("CPU with" if flags & set(hardware.BF16_CPU_FLAGS) else "CPU without")
    assert ("no AMX" in reason) == (flags == {"avx512f", "avx512_bf16"})


def test_gpu_precision_needs_native_bf16(monkeypatch):
    monkeypatch.setattr(hardware, "cuda_has_bf16", lambda: True)
    assert hardware.default_precision("gpu") == "bf16-mixed"
    monkeypatch.setattr(hardware, "cuda_has_bf16", lambda: False)
    assert hardware.default_precision("cuda") == "32-true"


def test_workers_and_threads_do_not_oversubscribe(monkeypatch, cpu_only):
    monkeypatch.setattr(hardware, "available_cores", lambda: 2)
    assert hardware.default_num_workers(in_memory=True) == 0  # crops in RAM: in the process
    assert hardware.default_num_workers(in_memory=False) == 1
    assert hardware.default_torch_threads(0) == 2
    assert hardware.default_torch_threads(1) == 1
    monkeypatch.setattr(hardware, "available_cores", lambda: 16)
    assert hardware.default_num_workers(in_memory=False) == 4
    assert hardware.default_torch_threads(4) == 12


def test_configs_resolve_the_defaults_and_accept_explicit_values(monkeypatch, tmp_path, cpu_only):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setattr(hardware, "available_cores", lambda: 2)
    cfg = compose_train(["trainer=cpu"], output_dir=tmp_path / "run")
    assert cfg.trainer.precision == "bf16-mixed"
    assert cfg.data.num_workers == 0 and cfg.torch_threads == 2
    cfg = compose_train(
        ["trainer=cpu", "trainer.precision=32-true", "data.num_workers=1"],
        output_dir=tmp_path / "run",
    )
    assert cfg.trainer.precision == "32-true"
    assert cfg.data.num_workers == 1 and cfg.torch_threads == 1
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset())
    assert compose_train([], output_dir=tmp_path / "run").trainer.precision == "32-true"


def test_lightnings_nvml_check_is_dropped_only_where_nvml_cannot_load(monkeypatch):
    import ctypes

    import torch

    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    loaded = []
    monkeypatch.setattr(ctypes, "CDLL", lambda name: loaded.append(name))
    assert not hardware.skip_absent_nvml()  # NVML loads: Lightning's setting stays
    assert loaded == ["libnvidia-ml.so.1"]
    assert hardware.os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] == "1"

    def absent(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", absent)
    available = torch.cuda.is_available()  # the answer through the failing NVML path
    assert hardware.skip_absent_nvml()
    assert "PYTORCH_NVML_BASED_CUDA_CHECK" not in hardware.os.environ
    assert torch.cuda.is_available() == available  # the same answer without it
    assert not hardware.skip_absent_nvml()  # nothing left to drop
