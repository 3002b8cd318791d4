"""Image decoding edge cases: every mode becomes 1 or 3 uint8 channels; bad files raise
:class:`ImageReadError` naming the file."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from srlab.data.imageio import image_size, read_image, read_image_array
from srlab.errors import ImageReadError


def _png16(arr: np.ndarray) -> bytes:
    """A 16-bit PNG of ``(H, W, C)`` uint16 ``arr`` (C = 1 grey, 3 RGB, 4 RGBA), written by hand:
    Pillow cannot write 16-bit colour PNGs."""
    h, w, c = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 3: 2, 4: 6}[c], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (10, 14, 3), dtype=np.uint8)


def test_grey_rgb_rgba_and_bilevel(tmp_path, rgb):
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])).save(
        tmp_path / "rgba.png"
    )
    Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 1]])).save(tmp_path / "la.png")
    Image.fromarray(rgb[..., 0] > 127).save(tmp_path / "bilevel.png")
    grey = read_image(tmp_path / "grey.png")
    assert grey.dtype == torch.uint8 and grey.shape == (1, 10, 14)
    assert torch.equal(grey[0], torch.from_numpy(rgb[..., 0]))
    rgba = read_image(tmp_path / "rgba.png")
    assert rgba.shape == (3, 10, 14) and torch.equal(rgba, torch.from_numpy(rgb).permute(2, 0, 1))
    assert torch.equal(read_image(tmp_path / "la.png")[0], torch.from_numpy(rgb[..., 0]))
    bilevel = read_image(tmp_path / "bilevel.png")
    assert bilevel.shape == (1, 10, 14) and set(bilevel.unique().tolist()) <= {0, 255}


def test_palette_images_become_rgb(tmp_path, rgb):
    pal = Image.fromarray(rgb).quantize(colors=16)
    pal.save(tmp_path / "pal.png")
    pal.save(tmp_path / "pal_transparent.png", transparency=0)
    pal.save(tmp_path / "pal.gif")
    expected = torch.from_numpy(np.array(pal.convert("RGB"))).permute(2, 0, 1)
    for name in ("pal.png", "pal_transparent.png", "pal.gif"):
        img = read_image(tmp_path / name)
        assert img.shape == (3, 10, 14), name
        assert torch.equal(img, expected), name


def test_16bit_pngs_are_scaled_to_8_bits(tmp_path):
    grey16 = (np.arange(12).reshape(3, 4, 1) * 5000).astype(np.uint16)
    (tmp_path / "g16.png").write_bytes(_png16(grey16))
    img = read_image(tmp_path / "g16.png")
    assert img.shape == (1, 3, 4) and img.dtype == torch.uint8
    assert torch.equal(
        img[0],
        torch.from_numpy(np.round(grey16[..., 0].astype(float) * 255 / 65535).astype(np.uint8)),
    )
    rgb16 = (np.arange(36).reshape(3, 4, 3) * 1800).astype(np.uint16)
    rgba16 = np.concatenate([rgb16, np.full((3, 4, 1), 65535, np.uint16)], axis=2)
    for name, arr in (("rgb16.png", rgb16), ("rgba16.png", rgba16)):
        (tmp_path / name).write_bytes(_png16(arr))
        img = read_image(tmp_path / name).permute(1, 2, 0).numpy().astype(int)
        assert img.shape == (3, 4, 3), name
        assert np.abs(img - rgb16.astype(float) * 255 / 65535).max() <= 1, name


def test_exif_rotated_jpeg_is_upright(tmp_path):
    # Stored 20 wide x 30 high with orientation 6 (rotate 90° clockwise): shown 30 wide x 20 high.
    stored = np.zeros((30, 20, 3), np.uint8)
    stored[:5, :, 0] = 255  # red band along the stored top edge
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    img = read_image(tmp_path / "rot.jpg")
    assert img.shape == (3, 20, 30)
    assert image_size(tmp_path / "rot.jpg") == (20, 30)
    # After a clockwise turn the stored top edge is on the right.
    assert img[0, :, -3:].float().mean() > 200 and img[0, :, :3].float().mean() < 60


def test_cmyk_jpeg_becomes_rgb(tmp_path, rgb):
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert read_image(tmp_path / "cmyk.jpg").shape == (3, 10, 14)


def test_arrays_are_writable_hwc(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    arr = read_image_array(tmp_path / "a.png")
    assert arr.shape == (10, 14, 3) and arr.flags.writeable and arr.flags.c_contiguous
    assert image_size(tmp_path / "a.png") == (10, 14)


def test_bad_files_raise_image_read_error_naming_the_file(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "good.png")
    data = (tmp_path / "good.png").read_bytes()
    cases = {
        "truncated.png": data[: len(data) // 2],
        "garbage.png": bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8)),
        "empty.png": b"",
        "text.jpg": b"this is not an image",
        "bad_crc.png": data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "folder.png").mkdir()
    for name in [*cases, "folder.png", "missing.png"]:
        with pytest.raises(ImageReadError, match=name.replace(".", r"\.")):
            read_image(tmp_path / name)
    for name in ("garbage.png", "empty.png", "missing.png"):
        with pytest.raises(ImageReadError, match=name.replace(".", r"\.")):
            image_size(tmp_path / name)


@pytest.mark.parametrize("storage", ["memory", "cache", "decode"])
def test_datasets_read_every_input_kind_and_say_alpha_is_dropped(
    tmp_path, rgb, caplog, monkeypatch, storage
):
    """Grey, RGBA, palette with transparency, 16-bit RGB and an EXIF-rotated JPEG in one training or
    validation folder: colour only, 8 bits, upright; the log names the first image whose alpha goes."""
    import logging

    import srlab.data.imageio as imageio
    from srlab.data.cache import DecodedImageCache
    from srlab.data.datasets import WholeImageDataset
    from srlab.data.sources import FolderImages

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(rgb[..., 0]).save(folder / "a_grey.png")
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(folder / "b_rgba.png")
    Image.fromarray(rgb).quantize(colors=8).save(folder / "c_pal.png", transparency=0)
    (folder / "d_rgb16.png").write_bytes(_png16(rgb.astype(np.uint16) * 257))
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(rgb).save(folder / "e_rot.jpg", exif=exif.tobytes(), quality=95)
    monkeypatch.setattr(imageio, "_alpha_noted", False)
    caplog.set_level(logging.INFO, logger="srlab")
    cache = DecodedImageCache(tmp_path / "cache", progress=False) if storage == "cache" else None
    ds = WholeImageDataset(FolderImages(folder), 2, in_memory=storage == "memory", cache=cache)
    shapes = {ds[i]["name"]: tuple(ds[i]["hr"].shape) for i in range(len(ds))}
    assert shapes == {
        "a_grey": (1, 10, 14),
        "b_rgba": (3, 10, 14),
        "c_pal": (3, 10, 14),
        "d_rgb16": (3, 10, 14),
        "e_rot": (3, 14, 10),
    }
    assert all(ds[i]["hr"].dtype == torch.uint8 for i in range(len(ds)))
    assert torch.equal(ds[3]["hr"], torch.from_numpy(rgb).permute(2, 0, 1))  # 16 bits -> exact 8
    dropped = [m for m in caplog.messages if "alpha channels are dropped" in m]
    # The cache decodes in threads: either image with alpha may come first, but only one line.
    assert len(dropped) == 1 and ("b_rgba.png" in dropped[0] or "c_pal.png" in dropped[0])
