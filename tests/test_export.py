"""Export: ONNX (onnxruntime) and TorchScript equal PyTorch on input sizes other than the traced one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import SAMPLE_CKPT, run_module
from tests.models.test_models import MODEL_CONFIGS


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_conv_bicubic_upsampling_equals_imresize(scale):
    from srlab.degradations.bicubic_conv import bicubic_upsample_conv
    from srlab.degradations.resize import imresize

    gen = torch.Generator().manual_seed(scale)
    for h, w in ((2, 2), (3, 8), (17, 11), (31, 40)):
        x = torch.rand(2, 3, h, w, dtype=torch.float64, generator=gen)
        torch.testing.assert_close(
            bicubic_upsample_conv(x, scale), imresize(x, scale), rtol=0, atol=1e-12
        )


def _export_cfg(tmp_path, **kw):
    return OmegaConf.create(
        {
            "ckpt": str(SAMPLE_CKPT),
            "format": "onnx",
            "output": None,
            "scale": None,
            "opset": 17,
            "verify": False,
            "atol": 1e-4,
            **kw,
        }
    )


def test_onnx_export_matches_pytorch_on_two_sizes(tmp_path):
    import onnx
    import onnxruntime as ort

    from srlab.checkpoints import load_model
    from srlab.export import export
    from srlab.inference.exporting import TRACE_SIZE

    out = export(_export_cfg(tmp_path, output=str(tmp_path / "srcnn.onnx")))
    proto = onnx.load(str(out))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, "height", "width"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["srlab.scale"] == "3" and meta["srlab.in_channels"] == "1"

    net = load_model(SAMPLE_CKPT).net
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    for h, w in ((13, 21), (48, 37)):  # neither is the traced size
        assert (h, w) != TRACE_SIZE
        lr = torch.rand(2, 1, h, w, generator=gen)
        with torch.no_grad():
            expected = net(lr).numpy()
        got = session.run(None, {"lr": lr.numpy()})[0]
        assert got.shape == (2, 1, 3 * h, 3 * w)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_torchscript_export_of_an_rgb_model_matches_pytorch(tmp_path):
    from srlab.checkpoints import load_model
    from srlab.export import export
    from tests.checkpoints.test_checkpoints import _write_srcnn_ckpt

    ckpt = tmp_path / "rgb_x2.ckpt"
    _write_srcnn_ckpt(ckpt, scale=2, in_channels=3, f2=1)
    out = export(_export_cfg(tmp_path, ckpt=str(ckpt), format="torchscript", verify=True))
    assert out == tmp_path / "rgb_x2.pt"  # beside the checkpoint
    net = load_model(ckpt).net
    module = torch.jit.load(str(out))
    for h, w in ((9, 14), (30, 23)):
        lr = torch.rand(1, 3, h, w)
        with torch.no_grad():
            torch.testing.assert_close(module(lr), net(lr), rtol=0, atol=1e-4)


def test_export_cli_bicubic_onnx(tmp_path):
    out = tmp_path / "bic.onnx"
    proc = run_module(
        "srlab.export", ["ckpt=bicubic", "scale=2", f"output={out}"], cwd=tmp_path, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.is_file() and "verified on 2 sizes" in proc.stdout


def test_export_rejects_an_unknown_format(tmp_path):
    from srlab.errors import ConfigError
    from srlab.export import export

    with pytest.raises(ConfigError, match="format must be one of onnx, torchscript"):
        export(_export_cfg(tmp_path, format="tflite"))


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_every_model_config_round_trips_through_export(tmp_path, name, fmt):
    """Each conf/model/*.yaml exports with dynamic sizes and, reloaded (onnxruntime / torch.jit),
    equals PyTorch within 1e-4 on a batch of 2 at sizes other than the traced one."""
    from srlab.checkpoints import LoadedModel
    from srlab.inference.exporting import (
        FORMATS,
        export_onnx,
        export_torchscript,
        run_exported,
        verify_export,
    )
    from tests.models.test_models import build_net

    torch.manual_seed(0)
    net, cfg = build_net(name, 3)
    net.eval()
    meta = {"net_config": OmegaConf.to_container(cfg.model.net, resolve=True)}
    model = LoadedModel(net, name, 3, net.in_channels, None, meta)
    path = tmp_path / f"{name}{FORMATS[fmt]}"
    (export_onnx if fmt == "onnx" else export_torchscript)(model, path)
    assert verify_export(model, path, fmt, atol=1e-4) <= 1e-4  # two single images
    lr = torch.rand(2, net.in_channels, 11, 19, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(lr).numpy()
    got = run_exported(path, fmt, lr)
    assert got.shape == (2, net.in_channels, 33, 57)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
