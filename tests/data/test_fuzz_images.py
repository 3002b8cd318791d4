"""Fuzzing the image loader: random and damaged files raise ImageReadError (naming the file) or decode.

No other exception type may escape ``read_image`` (a long training job catches exactly that one),
and reading never writes anything.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from srlab.data.imageio import read_image
from srlab.errors import ImageReadError
from tests.conftest import smooth_image

# File signatures, so that random tails reach the decoders instead of failing identification.
MAGICS = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"GIF87a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"P6\n",
    b"P5\n4 4\n255\n",
]


def _encoded(fmt: str, rng: np.random.Generator, **save_args) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(smooth_image(rng, 23, 31)).save(buf, format=fmt, **save_args)
    return buf.getvalue()


def _fuzz_cases(seed: int = 1234) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(200):  # random byte strings, some behind a real signature
        magic = MAGICS[i % len(MAGICS)]
        n = int(rng.integers(0, 2048)) if i % 3 else int(rng.integers(0, 64))
        cases.append(
            (f"random_{i:03d}.png", magic + rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        )
    for fmt, ext, args in (
        ("PNG", "png", {}),
        ("JPEG", "jpg", {"quality": 90}),
        ("JPEG", "jpg", {"progressive": True}),
        ("PNG", "png", {"optimize": True}),
    ):
        data = _encoded(fmt, rng, **args)
        cuts = sorted(
            set(int(c) for c in rng.integers(1, len(data) - 1, 40)) | {1, 8, 16, 33, len(data) - 1}
        )
        cases += [(f"truncated_{fmt}_{cut}.{ext}", data[:cut]) for cut in cuts]
        for j in range(25):  # corrupted bytes inside a complete file
            damaged = bytearray(data)
            for pos in rng.integers(0, len(data), int(rng.integers(1, 8))):
                damaged[pos] = int(rng.integers(0, 256))
            cases.append((f"corrupt_{fmt}_{j}.{ext}", bytes(damaged)))
    return cases


def test_fuzzed_files_raise_only_image_read_error_and_write_nothing(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    cases = _fuzz_cases()
    assert sum(name.startswith("random_") for name, _ in cases) == 200
    for name, data in cases:
        (inputs / name).write_bytes(data)
    before = {p: p.read_bytes() for p in inputs.iterdir()}

    failures, decoded = [], 0
    for name, _ in cases:
        path = inputs / name
        try:
            img = read_image(path)
        except ImageReadError as e:
            assert str(path) in str(e), f"error message does not name the file: {e}"
            continue
        except Exception as e:  # noqa: BLE001 - the point of the test
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        # A damaged file may still decode (e.g. corrupt pixels in a JPEG): then it is a valid image.
        assert img.dtype == torch.uint8 and img.ndim == 3 and img.shape[0] in (1, 3), name
        assert min(img.shape[1:]) > 0, name
        decoded += 1
    assert not failures, "\n".join(failures)
    assert decoded < len(cases)  # most of them must fail
    assert {p: p.read_bytes() for p in inputs.iterdir()} == before  # nothing written or changed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs"]


@pytest.mark.parametrize("name", ["empty.png", "text.jpg", "folder.png", "missing.png"])
def test_non_images_are_reported_by_name(tmp_path, name):
    path = tmp_path / name
    if name == "text.jpg":
        path.write_text("not an image\n")
    elif name == "empty.png":
        path.write_bytes(b"")
    elif name == "folder.png":
        path.mkdir()
    with pytest.raises(ImageReadError, match=str(path).replace(".", r"\.")):
        read_image(path)
