"""srlab.infer: every image kind in, correctly sized PNGs out; colour rules; tiling; safety."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from tests.conftest import REPO_ROOT, SAMPLE_CKPT, run_module, smooth_image


def _infer_cfg(inp, out, ckpt=str(SAMPLE_CKPT), **kw):
    return OmegaConf.create(
        {
            "input": str(inp),
            "output": str(out),
            "ckpt": ckpt,
            "scale": None,
            "device": "cpu",
            "half": False,
            "tile": 256,
            "tile_overlap": 16,
            "torch_threads": None,
            **kw,
        }
    )


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------------------- tiling
# ---------------------------------------------------------------------------- end to end
def _write_inputs(folder):
    """RGB, grey, RGBA, grey+alpha, 16-bit RGB, 16-bit grey PNGs; a JPEG; a BMP; returns sizes."""
    from srlab.data.pngwrite import write_png

    rng = np.random.default_rng(0)
    folder.mkdir()
    rgb = smooth_image(rng, 21, 26, 3)
    grey = smooth_image(rng, 17, 23, 1)
    alpha = smooth_image(rng, 19, 20, 1)
    write_png(folder / "rgb.png", rgb)
    write_png(folder / "grey.png", grey)
    write_png(folder / "rgba.png", np.concatenate([smooth_image(rng, 19, 20, 3), alpha], -1))
    write_png(folder / "la.png", np.concatenate([grey, grey[::-1]], -1))
    write_png(
        folder / "rgb16.png",
        rgb.astype(np.uint16) * 257 + rng.integers(0, 200, rgb.shape).astype(np.uint16),
    )
    write_png(folder / "grey16.png", grey.astype(np.uint16) * 257)
    Image.fromarray(rgb).save(folder / "photo.jpg", quality=90)
    Image.fromarray(grey[..., 0]).save(folder / "scan.bmp")
    (folder / "notes.txt").write_text("not an image")  # ignored: not an image extension
    return {
        "rgb": (21, 26, 3, 8),
        "grey": (17, 23, 1, 8),
        "rgba": (19, 20, 4, 8),
        "la": (17, 23, 2, 8),
        "rgb16": (21, 26, 3, 16),
        "grey16": (17, 23, 1, 16),
        "photo": (21, 26, 3, 8),
        "scan": (17, 23, 1, 8),
    }


def test_infer_folder_of_every_kind_gives_sized_pngs_and_leaves_inputs_alone(tmp_path):
    from srlab.data.imageio import read_image_file
    from srlab.infer import infer

    inputs = tmp_path / "in"
    expected = _write_inputs(inputs)
    before = _digest(inputs)
    out = tmp_path / "out" / "nested"
    stats = infer(_infer_cfg(inputs, out, tile=8, tile_overlap=8))
    assert stats.images == len(expected)
    assert _digest(inputs) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.png" for n in expected)
    for name, (h, w, c, bits) in expected.items():
        img = read_image_file(out / f"{name}.png")
        assert (img.height, img.width) == (3 * h, 3 * w), name
        assert img.channels + (img.alpha is not None) == c, name
        assert img.bit_depth == bits, name


def test_infer_colour_rules_y_model_keeps_bicubic_chroma(tmp_path):
    """Y model: the output's Cb/Cr are the bicubic Cb/Cr; with a bicubic 'Y model' the result is
    plain RGB bicubic (everything is linear), within rounding."""
    from srlab.checkpoints import LoadedModel, load_model
    from srlab.data.imageio import ImageData
    from srlab.degradations.resize import imresize
    from srlab.inference.upscale import Upscaler
    from srlab.models.bicubic import Bicubic
    from srlab.protocol.colour import rgb_to_ycbcr

    rgb = smooth_image(np.random.default_rng(5), 30, 34, 3)
    image = ImageData(rgb, None, 8, "RGB")
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].double() / 255
    bicubic_rgb = imresize(x, 3)

    y_bicubic = LoadedModel(Bicubic(3, in_channels=1), "bicubic-y", 3, 1)
    out = (
        torch.from_numpy(Upscaler(y_bicubic, "cpu").upscale(image)).permute(2, 0, 1)[None].double()
    )
    assert (out - torch.floor(bicubic_rgb.clamp(0, 1) * 255 + 0.5)).abs().max() <= 1

    srcnn = Upscaler(load_model(SAMPLE_CKPT), "cpu").upscale(image)
    sr = torch.from_numpy(srcnn).permute(2, 0, 1)[None].double() / 255
    chroma_sr, chroma_bic = rgb_to_ycbcr(sr)[:, 1:], rgb_to_ycbcr(bicubic_rgb.clamp(0, 1))[:, 1:]
    # Rounding RGB to 8 bits moves Cb/Cr by < 1/255; clipping of out-of-gamut pixels by more.
    assert (chroma_sr - chroma_bic).abs().quantile(0.99) < 1.5 / 255
    luma_gap = (rgb_to_ycbcr(sr)[:, :1] - rgb_to_ycbcr(bicubic_rgb)[:, :1]).abs().mean()
    assert luma_gap > 0.5 / 255  # the model did change Y


def test_infer_bicubic_file_matches_imresize_and_refuses_the_input_folder(tmp_path):
    from srlab.data.pngwrite import write_png
    from srlab.degradations.resize import imresize
    from srlab.errors import SrlabError
    from srlab.infer import infer

    folder = tmp_path / "photos"
    folder.mkdir()
    rgb = smooth_image(np.random.default_rng(1), 15, 18, 3)
    write_png(folder / "a.png", rgb)
    infer(_infer_cfg(folder / "a.png", tmp_path / "out", ckpt="bicubic", scale=2))
    got = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    want = torch.floor(imresize(x, 2).clamp(0, 1) * 255 + 0.5)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, want.astype(np.uint8))
    with pytest.raises(SrlabError, match="never writes into the input folder"):
        infer(_infer_cfg(folder / "a.png", folder, ckpt="bicubic", scale=2))
    assert sorted(p.name for p in folder.iterdir()) == ["a.png"]


def test_infer_cli_runs_and_errors_are_short(tmp_path, capsys):
    from srlab.data.pngwrite import write_png
    from srlab.errors import user_errors
    from srlab.infer import infer

    write_png(tmp_path / "a.png", smooth_image(np.random.default_rng(0), 12, 12, 3))
    ok = run_module(
        "srlab.infer",
        [f"input={tmp_path / 'a.png'}", f"output={tmp_path / 'out'}", f"ckpt={SAMPLE_CKPT}"],
        cwd=tmp_path,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert Image.open(tmp_path / "out" / "a.png").size == (36, 36)
    assert "images/s" in ok.stdout and "Traceback" not in ok.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "out"]  # no Hydra droppings

    for ckpt, scale, message in (
        (str(SAMPLE_CKPT), 2, "x3 SRCNN model, but scale=2"),
        ("edsr_imaginary", None, "Valid names: bicubic, srcnn, srcnn_x2, srcnn_x3, srcnn_x4"),
    ):
        with pytest.raises(SystemExit) as exit_info, user_errors():
            infer(_infer_cfg(tmp_path / "a.png", tmp_path / "out2", ckpt=ckpt, scale=scale))
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) <= 3


# ---------------------------------------------------------------------------- memory
_RSS_SCRIPT = """
import resource, subprocess, sys, json
proc = subprocess.run([sys.executable, "-m", "srlab.infer", *sys.argv[1:]], capture_output=True, text=True)
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "peak_mb": peak_kb / 1024, "stdout": proc.stdout[-500:],
                  "stderr": proc.stderr[-2000:]}))
"""


@pytest.mark.slow
def test_4000x3000_x2_on_cpu_with_tiles_stays_under_2gb(tmp_path):
    import json

    from tests.checkpoints.test_checkpoints import _write_srcnn_ckpt

    ckpt = tmp_path / "srcnn_915_x2.ckpt"
    _write_srcnn_ckpt(ckpt, scale=2, in_channels=1, f2=1)
    yy, xx = np.mgrid[0:3000, 0:4000]
    big = np.stack([(xx * 255 // 3999), (yy * 255 // 2999), ((xx + yy) % 256)], -1).astype(np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png", compress_level=1)
    del big, yy, xx
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _RSS_SCRIPT,
            f"input={tmp_path / 'big.png'}",
            f"output={tmp_path / 'out'}",
            f"ckpt={ckpt}",
            "device=cpu",
        ],  # default tile (256 LR px)
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0, result["stderr"]
    print(f"peak RSS {result['peak_mb']:.0f} MB; {result['stdout']}")
    assert Image.open(tmp_path / "out" / "big.png").size == (8000, 6000)
    assert result["peak_mb"] < 2048
