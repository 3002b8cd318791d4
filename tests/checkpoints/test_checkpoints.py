"""ckpt= resolution and loading: files, run directories, bundled names, bicubic, clear errors."""

from __future__ import annotations

import shutil

import pytest
import torch

from srlab.checkpoints import (
    CheckpointError,
    bundle_checkpoint,
    bundled_weights,
    load_model,
    resolve_checkpoint,
    valid_names,
)
from srlab.errors import SrlabError
from tests.conftest import save_srlab_checkpoint

BUNDLED = "srcnn_x3"


def _bundled_path():
    return resolve_checkpoint(BUNDLED)[1]


def _checkpoint_bytes(tmp_path) -> bytes:
    """The bytes of a real ``torch.save`` checkpoint (the bundled weights are safetensors)."""
    path = tmp_path / "source" / "ok.ckpt"
    _write_srcnn_ckpt(path)
    return path.read_bytes()


def _write_srcnn_ckpt(path, scale=2, in_channels=1, f2=1, seed=0):
    """A checkpoint in srlab.train's layout (net.* weights + srlab metadata), random weights."""
    from srlab.models.srcnn import SRCNN

    torch.manual_seed(seed)
    config = {
        "_target_": "srlab.models.srcnn.SRCNN",
        "scale": scale,
        "in_channels": in_channels,
        "f1": 9,
        "f2": f2,
        "f3": 5,
        "n1": 64,
        "n2": 32,
    }
    net = SRCNN(**{k: v for k, v in config.items() if k != "_target_"})
    save_srlab_checkpoint(path, net, config)
    return net


def test_bundled_registry_is_consistent_and_loads():
    registry = bundled_weights()
    assert BUNDLED in registry
    entry = registry[BUNDLED]
    assert {"file", "description", "scale", "in_channels", "sha256", "net_config"} <= set(entry)
    model = load_model(BUNDLED)
    assert model.scale == entry["scale"] == 3 and model.in_channels == entry["in_channels"] == 1
    assert model.path.stat().st_size < 1_000_000  # small enough to ship inside the package
    assert not model.net.training
    assert model.net(torch.rand(1, 1, 10, 12)).shape == (1, 1, 30, 36)
    assert valid_names()[0] == "bicubic" and BUNDLED in valid_names()


def test_resolve_file_run_dir_best_then_last(tmp_path):
    run = tmp_path / "run"
    ckpt_dir = run / "checkpoints"
    ckpt_dir.mkdir(parents=True)
    shutil.copy(_bundled_path(), ckpt_dir / "last.ckpt")
    assert resolve_checkpoint(run)[1] == ckpt_dir / "last.ckpt"  # no best.ckpt: last
    shutil.copy(_bundled_path(), ckpt_dir / "best.ckpt")
    assert resolve_checkpoint(run)[1] == ckpt_dir / "best.ckpt"  # best preferred
    assert resolve_checkpoint(ckpt_dir / "last.ckpt")[1] == ckpt_dir / "last.ckpt"
    # An experiment folder with exactly one run resolves to it; with two it asks which.
    assert resolve_checkpoint(tmp_path)[1] == ckpt_dir / "best.ckpt"
    other = tmp_path / "run2" / "checkpoints"
    other.mkdir(parents=True)
    shutil.copy(_bundled_path(), other / "best.ckpt")
    with pytest.raises(CheckpointError, match="holds 2 runs"):
        resolve_checkpoint(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint in run directory"):
        resolve_checkpoint(empty)


def test_unknown_name_lists_valid_names_and_missing_path_is_named(tmp_path):
    with pytest.raises(SrlabError) as info:
        resolve_checkpoint("srcnn_imaginary")
    assert "bicubic" in str(info.value) and BUNDLED in str(info.value)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        resolve_checkpoint(tmp_path / "nope.ckpt")


def test_bicubic_needs_a_scale_and_is_matlab_bicubic():
    from srlab.degradations.resize import imresize

    with pytest.raises(CheckpointError, match="scale"):
        load_model("bicubic")
    model = load_model("BICUBIC", scale=4)
    assert model.is_bicubic and model.scale == 4 and model.path is None
    x = torch.rand(1, 3, 7, 9)
    torch.testing.assert_close(model.net(x), imresize(x, 4))


def test_other_scale_or_architecture_gives_a_clear_error(tmp_path):
    ckpt = tmp_path / "x2.ckpt"
    net = _write_srcnn_ckpt(ckpt, scale=2, f2=1)
    model = load_model(ckpt)  # the checkpoint's own scale and architecture
    assert model.scale == 2
    for k, v in net.state_dict().items():
        torch.testing.assert_close(model.net.state_dict()[k], v)
    with pytest.raises(CheckpointError, match=r"x2 SRCNN model, but scale=3"):
        load_model(ckpt, scale=3)
    wanted = {"_target_": "srlab.models.srcnn.SRCNN", "scale": 2, "in_channels": 1, "f2": 5}
    with pytest.raises(CheckpointError, match=r"f2=1 \(requested 5\)"):
        load_model(ckpt, net_config=wanted)
    with pytest.raises(CheckpointError, match="Bicubic"):
        load_model(ckpt, net_config={"_target_": "srlab.models.bicubic.Bicubic", "scale": 2})


def test_unreadable_foreign_and_unsafe_checkpoints_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt.ckpt"):
        load_model(corrupt)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    with pytest.raises(CheckpointError, match="no network config"):
        load_model(foreign)
    # Arbitrary pickled objects are never unpickled (weights_only=True).
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": {}, "payload": CheckpointError("x")}, unsafe)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_model(unsafe)


def test_bundle_checkpoint_ships_the_weights_only_as_safetensors(tmp_path):
    from safetensors import safe_open

    from srlab.checkpoints.bundled import golden_digest

    src = tmp_path / "run" / "checkpoints" / "best.ckpt"
    net = _write_srcnn_ckpt(src, scale=2)
    full = torch.load(src, weights_only=True)
    full["optimizer_states"] = [{"state": {0: {"exp_avg": torch.zeros(1000)}}}]
    torch.save(full, src)
    out = bundle_checkpoint(
        tmp_path / "run", "tiny_x2", "test model", {"val_psnr": 1.0}, weights_dir=tmp_path / "w"
    )
    assert out.suffix == ".safetensors" and oct(out.stat().st_mode & 0o777) == "0o644"
    with safe_open(str(out), framework="pt") as f:  # tensors of the network, nothing else
        assert set(f.keys()) == {*net.state_dict(), "srlab_scale"}
        assert f.metadata()["srlab.architecture"] == "srlab.models.srcnn.SRCNN"
    entry = bundled_weights(tmp_path / "w")["tiny_x2"]
    assert entry["scale"] == 2 and entry["architecture"] == "SRCNN" and entry["val_psnr"] == 1.0
    assert entry["golden_sha256"] == golden_digest(net.eval(), 1)


class _NotAWeight:
    """A class a checkpoint must not need: unpickling it would run the file's code."""


def test_item11_unreadable_checkpoints_are_one_line_naming_the_file(tmp_path):
    """Item 11: a truncated, empty, garbage or code-needing file gives one srlab line naming it,
    never PyTorch's advice to load with weights_only=False."""
    from srlab.checkpoints import read_checkpoint

    data = _checkpoint_bytes(tmp_path)
    files = {
        "truncated.ckpt": data[: len(data) // 2],
        "empty.ckpt": b"",
        "garbage.ckpt": bytes(range(256)) * 8,
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    torch.save({"state_dict": {}, "extra": _NotAWeight()}, tmp_path / "code.ckpt")
    expected = {
        "truncated.ckpt": "truncated or corrupt",
        "empty.ckpt": "empty",
        "garbage.ckpt": "not a PyTorch checkpoint",
        "code.ckpt": "_NotAWeight",
    }
    for name, reason in expected.items():
        path = tmp_path / name
        for load in (read_checkpoint, load_model):
            with pytest.raises(CheckpointError) as info:
                load(path)
            message = str(info.value)
            assert str(path) in message and reason in message, message
            assert "\n" not in message and "weights_only=False" not in message.replace(" ", "")
            assert "Errno" not in message, message


def test_item11_train_with_a_truncated_checkpoint_prints_one_line(tmp_path):
    from tests.conftest import run_module

    data = _checkpoint_bytes(tmp_path)
    bad = tmp_path / "last.ckpt"
    bad.write_bytes(data[: len(data) // 3])
    proc = run_module(
        "srlab.train",
        [f"ckpt={bad}", "logger=none", f"paths.experiments_dir={tmp_path / 'exp'}"],
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and lines[-1].startswith("srlab: error: cannot read checkpoint")
    assert str(bad) in lines[-1] and "truncated" in lines[-1]
    assert "Traceback" not in proc.stderr and "weights_only" not in proc.stderr.replace("=True", "")
