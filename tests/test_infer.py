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

from tests.conftest import REPO_ROOT, run_module, smooth_image


def _infer_cfg(inp, out, ckpt="srcnn_915_x3_sample", **kw):
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


# ---------------------------------------------------------------------------- colour, files
def test_ycbcr_round_trip_and_y_matches_the_metrics():
    from srlab.protocol.colour import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb

    rgb = torch.rand(2, 3, 6, 7, dtype=torch.float64)
    ycc = rgb_to_ycbcr(rgb)
    torch.testing.assert_close(ycc[:, :1], rgb_to_y(rgb), rtol=0, atol=0)
    torch.testing.assert_close(ycbcr_to_rgb(ycc), rgb, rtol=0, atol=1e-12)
    white = rgb_to_ycbcr(torch.ones(1, 3, 1, 1, dtype=torch.float64)).flatten() * 255
    torch.testing.assert_close(white, torch.tensor([235.0, 128.0, 128.0], dtype=torch.float64))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip_keeps_alpha_and_16_bits(tmp_path, channels, dtype):
    from srlab.data.imageio import read_image_file
    from srlab.data.pngwrite import write_png

    arr = (
        np.random.default_rng(channels)
        .integers(0, np.iinfo(dtype).max + 1, (5, 7, channels))
        .astype(dtype)
    )
    write_png(tmp_path / "a.png", arr)
    img = read_image_file(tmp_path / "a.png")
    assert img.bit_depth == (8 if dtype == np.uint8 else 16)
    back = (
        img.pixels if img.alpha is None else np.concatenate([img.pixels, img.alpha[..., None]], -1)
    )
    np.testing.assert_array_equal(back, arr)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary file left behind


def test_reader_handles_palette_exif_tiff16_and_names_bad_files(tmp_path):
    import tifffile

    from srlab.data.imageio import read_image_file
    from srlab.errors import ImageReadError

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (4, 6, 3)).astype(np.uint8)
    pal = Image.fromarray(rgb).convert("P")
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png")
    img = read_image_file(tmp_path / "p.png")
    assert img.channels == 3 and img.alpha is not None
    exif_img = Image.fromarray(rgb)
    exif = exif_img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif_img.save(tmp_path / "e.png", exif=exif)
    np.testing.assert_array_equal(read_image_file(tmp_path / "e.png").pixels, np.rot90(rgb, k=-1))
    rgb16 = rng.integers(0, 65536, (4, 6, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", rgb16)
    np.testing.assert_array_equal(read_image_file(tmp_path / "t.tif").pixels, rgb16)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ImageReadError, match="bad.png"):
        read_image_file(tmp_path / "bad.png")


# ---------------------------------------------------------------------------- tiling
def test_tile_spans_cover_the_image_once():
    from srlab.inference.tiling import tile_spans

    for length, tile, overlap in ((100, 32, 8), (64, 64, 8), (65, 16, 0), (7, 3, 5)):
        spans = tile_spans(length, tile, overlap)
        cores = [i for _, _, c0, c1 in spans for i in range(c0, c1)]
        assert cores == list(range(length))
        for s0, s1, c0, c1 in spans:
            assert 0 <= s0 <= c0 < c1 <= s1 <= length
            assert c0 - s0 == min(overlap, c0) and s1 - c1 == min(overlap, length - c1)


def test_tiled_equals_untiled_for_a_y_model_on_rgb(tmp_path):
    from srlab.checkpoints import load_model
    from srlab.data.imageio import ImageData
    from srlab.inference.upscale import Upscaler

    model = load_model("srcnn_915_x3_sample")
    rgb = smooth_image(np.random.default_rng(3), 70, 95, 3)
    image = ImageData(rgb, None, 8, "RGB")
    whole = Upscaler(model, "cpu", tile=0).upscale(image).astype(int)
    tiled = Upscaler(model, "cpu", tile=24, tile_overlap=8).upscale(image).astype(int)
    assert whole.shape == tiled.shape == (210, 285, 3)
    assert np.abs(whole - tiled).max() <= 1  # within 1/255


def test_tiled_forward_is_exact_for_a_float_network():
    from srlab.inference.tiling import tiled_forward
    from srlab.models.srcnn import SRCNN

    torch.manual_seed(0)
    net = SRCNN(scale=2, in_channels=3, f2=1).eval()
    lr = torch.rand(1, 3, 41, 53)
    with torch.no_grad():
        full = net(lr)
        tiled = tiled_forward(net, lr, 2, tile=16, overlap=10)
    torch.testing.assert_close(tiled, full, rtol=0, atol=1e-5)


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

    srcnn = Upscaler(load_model("srcnn_915_x3_sample"), "cpu").upscale(image)
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
        [f"input={tmp_path / 'a.png'}", f"output={tmp_path / 'out'}", "ckpt=srcnn_915_x3_sample"],
        cwd=tmp_path,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert Image.open(tmp_path / "out" / "a.png").size == (36, 36)
    assert "images/s" in ok.stdout and "Traceback" not in ok.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "out"]  # no Hydra droppings

    for ckpt, scale, message in (
        ("srcnn_915_x3_sample", 2, "x3 SRCNN model, but scale=2"),
        ("edsr_imaginary", None, "Valid names: bicubic, srcnn_915_x3_sample"),
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

    from tests.test_checkpoints import _write_srcnn_ckpt

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


def test_resize_caches_filled_in_inference_mode_still_work_with_autograd():
    """Upscaling (inference mode) then training in one process: cached resize tables are normal tensors."""
    from srlab.degradations.bicubic_conv import bicubic_upsample_conv
    from srlab.degradations.resize import imresize

    with torch.inference_mode():
        for dtype in (torch.float32, torch.float64):
            imresize(torch.rand(1, 3, 13, 11, dtype=dtype), 1 / 2)
            bicubic_upsample_conv(torch.rand(1, 1, 5, 6, dtype=dtype), 3)
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(1, 3, 13, 11, dtype=dtype, requires_grad=True)
        imresize(x, 1 / 2).sum().backward()
        y = torch.rand(1, 1, 5, 6, dtype=dtype, requires_grad=True)
        bicubic_upsample_conv(y, 3).sum().backward()
        assert x.grad is not None and y.grad is not None
