"""``imresize`` against an independent NumPy transcription of MATLAB's ``imresize(…,'bicubic')``.

The reference below computes, for every output pixel separately, its input taps and cubic weights
and mirrors out-of-range taps one by one (MATLAB's symmetric padding), in float64 — a different
code path from srlab's vectorised contribution tables and matrix products.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from srlab.degradations.resize import from_uint8, imresize, quantize, resized_length, to_uint8


def _cubic(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


def _mirror(j: int, n: int) -> int:
    """1-based ``j`` reflected into [1, n], edge pixel repeated (MATLAB 'symmetric')."""
    while j < 1 or j > n:
        j = 1 - j if j < 1 else 2 * n + 1 - j
    return j


def _reference_resize_axis(a: np.ndarray, axis: int, scale: float, out_len: int) -> np.ndarray:
    """Resize ``a`` along ``axis``, one output pixel at a time."""
    a = np.moveaxis(a, axis, -1)
    n = a.shape[-1]
    antialias = scale < 1
    width = 4.0 / scale if antialias else 4.0
    out = np.zeros(a.shape[:-1] + (out_len,), dtype=np.float64)
    for i in range(1, out_len + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = math.ceil(width) + 2
        weights, indices = [], []
        for t in range(taps):
            j = left + t
            w = scale * _cubic(scale * (u - j)) if antialias else _cubic(u - j)
            weights.append(w)
            indices.append(_mirror(j, n) - 1)
        total = sum(weights)
        acc = np.zeros(a.shape[:-1])
        for w, j in zip(weights, indices, strict=True):
            acc += (w / total) * a[..., j]
        out[..., i - 1] = acc
    return np.moveaxis(out, -1, axis)


def reference_imresize(a: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(a, scale, 'bicubic')`` of ``a (..., H, W)`` (height first)."""
    h, w = a.shape[-2:]
    out_h, out_w = math.ceil(round(h * scale, 8)), math.ceil(round(w * scale, 8))
    a = _reference_resize_axis(a.astype(np.float64), -2, scale, out_h)
    return _reference_resize_axis(a, -1, scale, out_w)


CASES = [
    # (scale, H, W): x2/x3/x4 down and up, odd sizes, non-integer factors
    (1 / 2, 18, 22),
    (1 / 3, 21, 27),
    (1 / 4, 24, 20),
    (1 / 3, 17, 25),  # not divisible: output ceil(H/3)
    (2, 7, 9),
    (3, 5, 7),
    (4, 6, 5),
    (0.7, 13, 19),
    (1.5, 9, 11),
]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(("scale", "h", "w"), CASES)
def test_imresize_matches_independent_matlab_reference(scale, h, w, channels):
    rng = np.random.default_rng(h * 100 + w + channels)
    a = rng.random((2, channels, h, w))
    expected = reference_imresize(a, scale)
    out64 = imresize(torch.from_numpy(a), scale)
    out32 = imresize(torch.from_numpy(a).float(), scale)
    assert (
        out64.shape
        == expected.shape
        == (2, channels, math.ceil(round(h * scale, 8)), math.ceil(round(w * scale, 8)))
    )
    assert out32.dtype == torch.float32
    assert np.abs(out64.numpy() - expected).max() < 1e-10
    assert np.abs(out32.double().numpy() - expected).max() < 1e-5


def test_imresize_gather_path_for_large_images_matches_matrix_path(monkeypatch):
    import srlab.degradations.resize as resize

    x = torch.rand(1, 2, 19, 23, dtype=torch.float64)
    dense = imresize(x, 1 / 3), imresize(x, 2.5)
    monkeypatch.setattr(resize, "_DENSE_MAX_ENTRIES", 0)
    gathered = imresize(x, 1 / 3), imresize(x, 2.5)
    for a, b in zip(dense, gathered, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_imresize_size_argument_and_unbatched_input():
    x = torch.rand(3, 10, 12)
    out = imresize(x, size=(15, 18))
    assert out.shape == (3, 15, 18)
    torch.testing.assert_close(out, imresize(x, 1.5))
    # Different factors per dimension: the one with the smaller factor goes first, as in MATLAB.
    a = np.random.default_rng(0).random((1, 1, 12, 10))
    out = imresize(torch.from_numpy(a), (0.5, 2.0))
    ref = _reference_resize_axis(_reference_resize_axis(a, -2, 0.5, 6), -1, 2.0, 20)
    assert np.abs(out.numpy() - ref).max() < 1e-10


def test_imresize_keeps_constants_and_mod_sizes():
    x = torch.full((1, 3, 33, 21), 0.37)
    for s in (1 / 2, 1 / 3, 1 / 4, 2, 3, 4):
        torch.testing.assert_close(imresize(x, s), torch.full_like(imresize(x, s), 0.37))
    assert imresize(torch.rand(1, 1, 33, 33), 1 / 3).shape == (1, 1, 11, 11)  # no float-noise pixel
    assert resized_length(33, 1 / 3) == 11 and resized_length(34, 1 / 3) == 12


def test_imresize_dtypes_and_gradient():
    x = torch.rand(2, 3, 12, 12, requires_grad=True)
    y = imresize(x, 1 / 2)
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    half = imresize(x.detach().half(), 2)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), imresize(x.detach(), 2), atol=2e-3, rtol=0)


def test_cached_tables_built_under_inference_mode_work_with_autograd():
    # Validation (inference mode) may be the first to resize a given size; training reuses the table.
    with torch.inference_mode():
        imresize(torch.rand(1, 1, 27, 31), 1 / 3)
        imresize(torch.rand(1, 1, 27, 31), 2.0)
    for s in (1 / 3, 2.0):
        x = torch.rand(1, 1, 27, 31, requires_grad=True)
        imresize(x, s).sum().backward()
        assert x.grad is not None


def test_uint8_round_trip_and_matlab_rounding():
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert torch.equal(to_uint8(from_uint8(u)), u)
    # MATLAB's uint8(): round half away from zero, clamp.
    x = torch.tensor([-0.1, 0.5 / 255, 1.49 / 255, 1.5 / 255, 254.5 / 255, 1.2])
    assert to_uint8(x).tolist() == [0, 1, 1, 2, 255, 255]
    torch.testing.assert_close(quantize(x), to_uint8(x).float() / 255)
    # Straight-through gradient when the input requires grad.
    x = torch.rand(4, requires_grad=True)
    quantize(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(4))


def test_imresize_float32_on_every_device_matches_float64(device, restore_precision):
    """The same result on CPU and CUDA (full float32, even with TF32 allowed): within 1e-5 of the
    float64 computation."""
    x = torch.rand(2, 3, 31, 29, dtype=torch.float64)
    torch.set_float32_matmul_precision("high")  # TF32 on CUDA: must not reach imresize
    for s in (1 / 3, 3, 0.7):
        got = imresize(x.float().to(device), s).cpu().double()
        torch.testing.assert_close(got, imresize(x, s), atol=1e-5, rtol=0)


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


def test_quantize_in_place_keeps_matlab_rounding_and_its_gradient():
    from srlab.degradations.resize import quantize

    x = torch.linspace(-0.1, 1.1, 10_001)
    expected = torch.floor(x.clamp(0, 1) * 255 + 0.5) / 255
    assert torch.equal(quantize(x), expected)
    leaf = x.clone().requires_grad_()
    q = quantize(leaf)
    assert torch.equal(q.detach(), expected)
    q.sum().backward()  # straight-through: identity gradient
    assert torch.equal(leaf.grad, torch.ones_like(x))
    assert torch.equal(x, torch.linspace(-0.1, 1.1, 10_001))  # the input is untouched


def test_nested_full_float32_blocks_restore_the_callers_settings(restore_precision):
    from srlab.utils.precision import _precision_flags, full_float32

    torch.set_float32_matmul_precision("high")
    before = [owner.fp32_precision for owner in _precision_flags()]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with full_float32("cpu"):
            inside = [owner.fp32_precision for owner in _precision_flags()]
            assert not torch.is_autocast_enabled("cpu")
            with full_float32("cpu"):  # nested: no flag changes, still full float32
                assert not torch.is_autocast_enabled("cpu")
                assert [o.fp32_precision for o in _precision_flags()] == inside
            # Autocast switched back on inside a block: a nested block must turn it off again.
            with torch.autocast("cpu", dtype=torch.bfloat16):
                with full_float32("cpu"):
                    assert not torch.is_autocast_enabled("cpu")
                    assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float32
            assert not torch.is_autocast_enabled("cpu")
        assert torch.is_autocast_enabled("cpu")
    assert [owner.fp32_precision for owner in _precision_flags()] == before
    assert all(value == "ieee" for value in inside)
