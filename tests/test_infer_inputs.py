"""srlab.infer on every input kind a user throws at it, and its file-safety rules.

Each input kind (grey, RGBA, 16-bit, palette, EXIF-rotated, corrupt, not an image) and each unsafe
output set-up has a test asserting the outcome and the message; fuzzed files go through the
inference loader and through a whole ``srlab.infer`` run. Upscaling uses ``ckpt=bicubic`` (exact
MATLAB bicubic, so outputs can be checked sample by sample) unless the model matters.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import warnings

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from srlab.errors import ImageReadError, SrlabError
from tests.conftest import SAMPLE_CKPT, run_module, smooth_image
from tests.data.test_fuzz_images import _fuzz_cases


def _cfg(inp, out, ckpt="bicubic", scale=2, **kw):
    return OmegaConf.create(
        {
            "input": str(inp),
            "output": str(out),
            "ckpt": ckpt,
            "scale": scale,
            "device": "cpu",
            "half": False,
            "tile": 256,
            "tile_overlap": 16,
            "torch_threads": None,
            "existing": "overwrite",
            **kw,
        }
    )


def _run(inp, out, **kw):
    from srlab.infer import infer

    return infer(_cfg(inp, out, **kw))


def _bicubic(arr: np.ndarray, scale: int, max_value: int) -> np.ndarray:
    """The expected output: MATLAB bicubic of ``(H, W, C)`` integers, rounded (float64)."""
    from srlab.degradations.resize import imresize

    x = torch.from_numpy(arr.astype(np.float64)).permute(2, 0, 1)[None] / max_value
    y = torch.floor(imresize(x, scale).clamp(0, 1) * max_value + 0.5)
    return y[0].permute(1, 2, 0).numpy().astype(np.int64)


def _assert_bicubic(got: np.ndarray, arr: np.ndarray, scale: int, max_value: int) -> None:
    """``got`` is the bicubic upscaling of ``arr``: float32 inference vs the float64 reference
    can round a sample sitting on a .5 boundary the other way, nothing more."""
    want = _bicubic(arr, scale, max_value)
    assert got.shape[:2] == want.shape[:2]
    diff = np.abs(got.reshape(want.shape).astype(np.int64) - want)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.98, (diff.max(), (diff == 0).mean())


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _open(path) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return img


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def rng():
    return np.random.default_rng(8)


@pytest.fixture
def info_log(caplog):
    caplog.set_level(logging.INFO, logger="srlab")
    return caplog


# ---------------------------------------------------------------------------- input kinds
def test_grey_stays_one_channel_8_bit_and_exact(tmp_path, rng):
    from srlab.data.imageio import read_image_file

    (tmp_path / "in").mkdir()
    grey = smooth_image(rng, 13, 17, 1)
    Image.fromarray(grey[..., 0]).save(tmp_path / "in" / "g.png")
    _run(tmp_path / "in", tmp_path / "out")
    out = read_image_file(tmp_path / "out" / "g.png")
    assert out.channels == 1 and out.alpha is None and out.bit_depth == 8
    _assert_bicubic(out.pixels, grey, 2, 255)


def test_grey_through_a_y_model_keeps_size_and_channels(tmp_path, rng):
    (tmp_path / "in").mkdir()
    Image.fromarray(smooth_image(rng, 11, 14, 1)[..., 0]).save(tmp_path / "in" / "g.png")
    _run(tmp_path / "in", tmp_path / "out", ckpt=str(SAMPLE_CKPT), scale=None)
    out = _open(tmp_path / "out" / "g.png")
    assert out.mode == "L" and out.size == (42, 33)


def test_rgba_alpha_upscaled_separately_and_said_in_the_log(tmp_path, rng, info_log):
    from srlab.data.imageio import read_image_file

    (tmp_path / "in").mkdir()
    rgb, alpha = smooth_image(rng, 12, 15, 3), smooth_image(rng, 12, 15, 1)
    Image.fromarray(np.concatenate([rgb, alpha], -1), mode="RGBA").save(tmp_path / "in" / "a.png")
    _run(tmp_path / "in", tmp_path / "out")
    assert "alpha channels are upscaled separately with bicubic (first: a.png)" in info_log.text
    out = read_image_file(tmp_path / "out" / "a.png")
    assert out.describe() == "30x24 RGB+alpha 8-bit"
    _assert_bicubic(out.pixels, rgb, 2, 255)
    _assert_bicubic(out.alpha, alpha, 2, 255)


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_png_gives_an_exactly_sized_16_bit_png(tmp_path, rng, channels):
    from srlab.data.imageio import read_image_file
    from srlab.data.pngwrite import write_png

    (tmp_path / "in").mkdir()
    # Low bytes carry information: an 8-bit round trip would lose it.
    arr16 = smooth_image(rng, 9, 14, channels).astype(np.uint16) * 256 + rng.integers(
        0, 256, (9, 14, channels)
    ).astype(np.uint16)
    write_png(tmp_path / "in" / "deep.png", arr16)
    _run(tmp_path / "in", tmp_path / "out", scale=3)
    out = read_image_file(tmp_path / "out" / "deep.png")
    assert (out.height, out.width, out.channels, out.bit_depth) == (27, 42, channels, 16)
    assert out.pixels.dtype == np.uint16
    _assert_bicubic(out.pixels, arr16, 3, 65535)
    assert np.any(out.pixels % 257 != 0)  # not an 8-bit image scaled up
    with open(tmp_path / "out" / "deep.png", "rb") as f:
        assert f.read(25)[24] == 16  # IHDR bit depth


@pytest.mark.parametrize("transparent", [False, True])
def test_palette_png_becomes_rgb_or_rgba(tmp_path, rng, transparent, info_log):
    from srlab.data.imageio import read_image_file

    (tmp_path / "in").mkdir()
    pal = Image.fromarray(smooth_image(rng, 10, 12, 3)).quantize(colors=8)
    indices = np.asarray(pal)
    save_args = {"transparency": int(indices[0, 0])} if transparent else {}
    pal.save(tmp_path / "in" / "p.png", **save_args)
    _run(tmp_path / "in", tmp_path / "out")
    out = read_image_file(tmp_path / "out" / "p.png")
    rgb = np.asarray(pal.convert("RGB"))
    _assert_bicubic(out.pixels, rgb, 2, 255)
    if transparent:
        assert out.alpha is not None and "alpha channels are upscaled separately" in info_log.text
        alpha = np.where(indices == indices[0, 0], 0, 255).astype(np.uint8)[..., None]
        _assert_bicubic(out.alpha, alpha, 2, 255)
    else:
        assert out.alpha is None and "alpha" not in info_log.text


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_rotated_jpeg_comes_out_as_displayed(tmp_path, orientation):
    # Stored 16 wide x 10 high, a red band along the stored top edge.
    stored = np.full((10, 16, 3), 40, np.uint8)
    stored[:3, :, 0] = 250
    exif = Image.Exif()
    exif[0x0112] = orientation
    (tmp_path / "in").mkdir()
    Image.fromarray(stored).save(tmp_path / "in" / "rot.jpg", exif=exif.tobytes(), quality=95)
    _run(tmp_path / "in", tmp_path / "out")
    out = np.asarray(_open(tmp_path / "out" / "rot.png")).astype(int)
    displayed = np.asarray(
        _open(tmp_path / "in" / "rot.jpg").transpose(
            {
                6: Image.Transpose.ROTATE_270,
                8: Image.Transpose.ROTATE_90,
                3: Image.Transpose.ROTATE_180,
            }[orientation]
        )
    )
    assert out.shape[:2] == (2 * displayed.shape[0], 2 * displayed.shape[1])
    assert out.shape[:2] == ((32, 20) if orientation in (6, 8) else (20, 32))
    # Where the red band ends up: right (6: turned clockwise), left (8), bottom (3).
    edge = {6: out[:, -4:, 0], 8: out[:, :4, 0], 3: out[-4:, :, 0]}[orientation]
    assert edge.mean() > 200 and out[..., 0].mean() < 150
    _assert_bicubic(out, displayed, 2, 255)


# ---------------------------------------------------------------------------- bad inputs
def _good_and_bad(tmp_path, rng, bad: dict[str, bytes]):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(smooth_image(rng, 9, 11, 3)).save(folder / "good.png")
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    return folder


def test_corrupt_file_is_named_skipped_and_the_rest_written(tmp_path, rng, caplog):
    from srlab.infer import InferInputsError

    png = tmp_path / "x.png"
    Image.fromarray(smooth_image(rng, 20, 20, 3)).save(png)
    data = png.read_bytes()
    folder = _good_and_bad(tmp_path, rng, {"cut.png": data[: len(data) // 2]})
    before = _digest(folder)
    with pytest.raises(InferInputsError) as info:
        _run(folder, tmp_path / "out")
    msg = str(info.value)
    assert "1 of 2 input(s) could not be read and were skipped" in msg and "cut.png" in msg
    assert "1 image(s) upscaled into" in msg
    assert [p.name for p, _ in info.value.stats.failed] == ["cut.png"]
    assert info.value.stats.images == 1
    assert f"skipping {folder / 'cut.png'}: cannot decode image" in caplog.text
    assert _listing(tmp_path / "out") == ["good.png"]
    assert _digest(folder) == before


def test_non_image_file_with_an_image_name_is_named(tmp_path, rng, caplog):
    from srlab.infer import InferInputsError

    folder = _good_and_bad(tmp_path, rng, {"notes.png": b"shopping list: milk, eggs\n"})
    (folder / "readme.txt").write_text("ignored: not an image extension")
    with pytest.raises(
        InferInputsError, match=r"could not be read and were skipped .*: notes\.png"
    ):
        _run(folder, tmp_path / "out")
    assert f"{folder / 'notes.png'}: not an image file Pillow can identify" in caplog.text
    assert _listing(tmp_path / "out") == ["good.png"]


def test_a_single_bad_file_as_input_is_named(tmp_path):
    from srlab.infer import InferInputsError

    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InferInputsError, match=r"1 of 1 input\(s\).*empty\.jpg; 0 image"):
        _run(tmp_path / "empty.jpg", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written: no empty output folder either


def test_hidden_and_non_image_files_in_a_folder_are_ignored_and_logged(tmp_path, rng, info_log):
    folder = _good_and_bad(tmp_path, rng, {"._good.png": b"AppleDouble", "notes.txt": b"x"})
    stats = _run(folder, tmp_path / "out")
    assert stats.images == 1 and not stats.failed
    assert "ignoring 2 file(s)" in info_log.text and "._good.png, notes.txt" in info_log.text


# ---------------------------------------------------------------------------- output safety
def test_output_folder_equal_to_the_input_folder_is_refused(tmp_path, rng):
    folder = _good_and_bad(tmp_path, rng, {})
    (tmp_path / "link").symlink_to(folder, target_is_directory=True)
    for out in (folder, tmp_path / "in" / ".." / "in", tmp_path / "link"):
        with pytest.raises(SrlabError, match="is the folder the inputs are in; srlab.infer never"):
            _run(folder, out)
        with pytest.raises(SrlabError, match="never writes into the input folder"):
            _run(folder / "good.png", out)
    assert _listing(folder) == ["good.png"]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_an_output_that_is_an_input_is_refused(tmp_path, rng, link):
    folder = _good_and_bad(tmp_path, rng, {})
    out = tmp_path / "out"
    out.mkdir()
    if link == "symlink":
        (out / "good.png").symlink_to(folder / "good.png")
    else:
        os.link(folder / "good.png", out / "good.png")
    before = _digest(folder)
    with pytest.raises(
        SrlabError, match=r"refusing to overwrite the input .*good\.png: the output"
    ):
        _run(folder, out)
    assert _digest(folder) == before


def test_inputs_sharing_a_name_get_distinct_outputs(tmp_path, rng):
    from srlab.inference.files import output_names

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "a.jpg", "a_png.png", "B.png", "b.png"):
        Image.fromarray(smooth_image(rng, 6, 7, 3)).save(folder / name)
    stats = _run(folder, tmp_path / "out")
    assert stats.images == 5
    assert _listing(tmp_path / "out") == sorted(
        ["a_jpg.png", "a_png.png", "a_png_2.png", "B.png", "b_2.png"]
    )
    names = output_names([folder / n for n in ("x.PNG", "x.png", "y.tif")])
    assert names == ["x_png.png", "x_png_2.png", "y.png"]  # also distinct case-insensitively


def test_existing_outputs_overwrite_skip_or_error(tmp_path, rng, info_log):
    from srlab.errors import ConfigError

    folder = _good_and_bad(tmp_path, rng, {})
    Image.fromarray(smooth_image(rng, 5, 5, 3)).save(folder / "new.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "good.png").write_bytes(b"an old result")
    (out / "other.txt").write_text("unrelated")

    with pytest.raises(
        SrlabError,
        match=r"1 output file\(s\) already exist .*\(good\.png\) and "
        r"existing=error; use existing=overwrite",
    ):
        _run(folder, out, existing="error")
    assert _listing(out) == ["good.png", "other.txt"]  # refused before writing anything

    stats = _run(folder, out, existing="skip")
    assert stats.images == 1 and [p.name for p in stats.skipped] == ["good.png"]
    assert (out / "good.png").read_bytes() == b"an old result"
    assert "will be kept, their inputs skipped (existing=skip)" in info_log.text

    stats = _run(folder, out)  # the default: overwrite
    assert stats.images == 2 and _open(out / "good.png").size == (22, 18)
    assert "2 output file(s) already exist and will be replaced" in info_log.text
    assert _listing(out) == ["good.png", "new.png", "other.txt"]

    with pytest.raises(ConfigError, match="existing must be one of overwrite, skip, error"):
        _run(folder, out, existing="keep")


def test_an_interrupted_write_leaves_no_partial_or_temporary_file(tmp_path, rng, monkeypatch):
    import srlab.data.pngwrite

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(smooth_image(rng, 8, 9, 3)).save(folder / f"{name}.png")
    out = tmp_path / "out"
    real_save = Image.SAVE["PNG"]
    calls = []

    def failing_save(im, fp, filename):  # the 2nd image's encoder dies half-way (disk full)
        calls.append(filename)
        if len(calls) == 2:
            fp.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
            raise OSError(28, "No space left on device")
        return real_save(im, fp, filename)

    monkeypatch.setitem(Image.SAVE, "PNG", failing_save)
    with pytest.raises(SrlabError, match=r"cannot write .*b\.png: .*No space left.*1 image\(s\)"):
        _run(folder, out)
    assert _listing(out) == ["a.png"]  # a complete; b neither partial nor temporary; c not tried
    monkeypatch.setitem(Image.SAVE, "PNG", real_save)

    def interrupted_replace(src, dst):  # Ctrl-C between writing and renaming
        raise KeyboardInterrupt

    monkeypatch.setattr(srlab.data.pngwrite.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        _run(folder, out, existing="skip")
    assert _listing(out) == ["a.png"]
    monkeypatch.undo()
    assert _run(folder, out, existing="skip").images == 2
    assert _listing(out) == ["a.png", "b.png", "c.png"]


def test_temporaries_of_a_killed_run_are_removed_by_the_next(tmp_path, rng):
    folder = _good_and_bad(tmp_path, rng, {})
    out = tmp_path / "out"
    out.mkdir()
    stale, fresh = out / ".good.png.k3j2_x9q.tmp", out / ".good.png.a1b2c3d4.tmp"
    stale.write_bytes(b"\x89PNG half")  # as write_png names them
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    fresh.write_bytes(b"\x89PNG being written by another run right now")
    (out / ".mine.tmp").write_bytes(b"not ours")
    (out / ".other.png.k3j2_x9q.tmp").write_bytes(b"not for an output of this run")
    for p in (out / ".mine.tmp", out / ".other.png.k3j2_x9q.tmp"):
        os.utime(p, (hour_ago, hour_ago))
    _run(folder, out)
    assert _listing(out) == sorted([fresh.name, ".mine.tmp", ".other.png.k3j2_x9q.tmp", "good.png"])


# ---------------------------------------------------------------------------- fuzzing
def _more_fuzz_cases(rng) -> list[tuple[str, bytes]]:
    """Truncated and damaged 16-bit, RGBA, palette and EXIF files: the inference loader's own
    decoding paths (16-bit PNG re-decode, alpha split, orientation)."""
    import io

    from srlab.data.pngwrite import encode_png16

    def enc(img, fmt, **kw):
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        return buf.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 6
    rgb = smooth_image(rng, 14, 17, 3)
    sources = {
        "rgb16.png": encode_png16(rgb.astype(np.uint16) * 257),
        "la16.png": encode_png16(rgb[..., :2].astype(np.uint16) * 257),
        "grey16.png": encode_png16(rgb[..., :1].astype(np.uint16) * 257),
        "rgba.png": enc(Image.fromarray(np.dstack([rgb, rgb[..., 0]]), mode="RGBA"), "PNG"),
        "pal.png": enc(Image.fromarray(rgb).quantize(8), "PNG", transparency=0),
        "exif.jpg": enc(Image.fromarray(rgb), "JPEG", exif=exif.tobytes()),
    }
    cases = []
    for name, data in sources.items():
        for cut in sorted(set(rng.integers(1, len(data) - 1, 8).tolist()) | {len(data) - 12}):
            cases.append((f"cut{cut}_{name}", data[:cut]))
        for j in range(6):
            damaged = bytearray(data)
            for pos in rng.integers(8, len(data), int(rng.integers(1, 5))):
                damaged[pos] = int(rng.integers(0, 256))
            cases.append((f"bad{j}_{name}", bytes(damaged)))
    return cases


def test_inference_loader_raises_only_image_read_error_on_fuzzed_files(tmp_path):
    from srlab.data.imageio import read_image_file

    folder = tmp_path / "fuzz"
    folder.mkdir()
    cases = _fuzz_cases() + _more_fuzz_cases(np.random.default_rng(77))
    assert sum(name.startswith("random_") for name, _ in cases) == 200
    cases = [(f"{i:03d}_{name}", data) for i, (name, data) in enumerate(cases)]  # unique names
    for name, data in cases:
        (folder / name).write_bytes(data)
    before = _digest(folder)
    failures, decoded = [], 0
    for name, _ in cases:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # Pillow's warnings become log lines naming the file
                img = read_image_file(folder / name)
        except ImageReadError as e:
            assert str(folder / name) in str(e), f"message does not name the file: {e}"
            continue
        except Exception as e:  # noqa: BLE001 - the point of the test
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        assert img.pixels.dtype in (np.uint8, np.uint16) and img.channels in (1, 3), name
        assert img.height > 0 and img.width > 0, name
        decoded += 1
    assert not failures, "\n".join(failures)
    assert 0 < decoded < len(cases) // 4
    assert _digest(folder) == before and _listing(tmp_path) == ["fuzz"]


def _fuzz_folder(tmp_path, count: int, seed: int):
    """``count`` seeded fuzz files (random bytes, truncated or damaged images) + 2 good images."""
    from srlab.data.imageio import read_image_file

    rng = np.random.default_rng(seed)
    pool = _fuzz_cases(seed) + _more_fuzz_cases(rng)
    picks = rng.choice(len(pool), count, replace=False)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in picks:
        name, data = pool[i]
        (folder / f"{i:03d}_{name}").write_bytes(data)
    for k in range(2):
        Image.fromarray(smooth_image(rng, 7 + k, 9, 3)).save(folder / f"good{k}.png")
    readable = {}
    for p in sorted(folder.iterdir()):
        try:
            img = read_image_file(p)
            readable[p.stem] = (img.height, img.width)
        except ImageReadError:
            pass
    return folder, readable


def test_infer_on_a_folder_of_fuzzed_files_names_each_bad_one_and_writes_only_good_ones(
    tmp_path, caplog
):
    from srlab.infer import InferInputsError

    folder, readable = _fuzz_folder(tmp_path, 30, seed=5)
    bad = sorted(p.name for p in folder.iterdir() if p.stem not in readable)
    assert len(bad) >= 20 and {"good0", "good1"} <= set(readable)
    before = _digest(folder)
    with pytest.raises(InferInputsError) as info:
        _run(folder, tmp_path / "out", tile=8, tile_overlap=4)
    assert sorted(p.name for p, _ in info.value.stats.failed) == bad
    assert f"{len(bad)} of {len(bad) + len(readable)} input(s) could not be read" in str(info.value)
    for name in bad:
        assert f"skipping {folder / name}: " in caplog.text, name
    out = tmp_path / "out"
    assert _listing(out) == sorted(f"{stem}.png" for stem in readable)  # no temporaries either
    for stem, (h, w) in readable.items():
        assert _open(out / f"{stem}.png").size == (2 * w, 2 * h), stem
    assert _digest(folder) == before


def test_infer_cli_exit_status_and_message_for_fuzzed_inputs(tmp_path):
    folder, readable = _fuzz_folder(tmp_path, 12, seed=6)
    bad = sorted(p.name for p in folder.iterdir() if p.stem not in readable)
    assert bad
    proc = run_module(
        "srlab.infer",
        [
            f"input={folder}",
            f"output={tmp_path / 'out'}",
            "ckpt=bicubic",
            "scale=2",
            "device=cpu",
        ],
        cwd=tmp_path,
        timeout=300,
    )
    from srlab.infer import EXIT_SOME_INPUTS_FAILED

    assert proc.returncode == EXIT_SOME_INPUTS_FAILED == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"srlab: error: {len(bad)} of {len(bad) + len(readable)} input(s)")
    for name in bad:
        assert f"skipping {folder / name}" in proc.stdout + proc.stderr, name
    assert f"{len(readable)} image(s) in" in proc.stdout
    assert _listing(tmp_path / "out") == sorted(f"{stem}.png" for stem in readable)


def test_item12_infer_with_no_readable_input_says_so_and_leaves_nothing(tmp_path):
    """Item 12: no readable input: no `nan images/s`, a plain "nothing written", exit status 1,
    and no empty output folder."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    proc = run_module(
        "srlab.infer",
        [f"input={inputs}", f"output={out}", "ckpt=bicubic", "scale=2", "device=cpu"],
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    said = proc.stdout + proc.stderr
    assert "no image upscaled" in said and "nothing written" in said
    assert "nan" not in said.lower().replace("nano", "")
    assert "broken.png" in proc.stderr and not out.exists()
