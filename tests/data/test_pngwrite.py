"""Reading back what srlab.data.pngwrite writes (alpha, 16 bits), and the reader's odd inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


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
