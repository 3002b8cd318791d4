"""srlab.protocol.colour: BT.601 YCbCr and the image <-> network colour conversions."""

from __future__ import annotations

import torch


def test_ycbcr_round_trip_and_y_matches_the_metrics():
    from srlab.protocol.colour import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb

    rgb = torch.rand(2, 3, 6, 7, dtype=torch.float64)
    ycc = rgb_to_ycbcr(rgb)
    torch.testing.assert_close(ycc[:, :1], rgb_to_y(rgb), rtol=0, atol=0)
    torch.testing.assert_close(ycbcr_to_rgb(ycc), rgb, rtol=0, atol=1e-12)
    white = rgb_to_ycbcr(torch.ones(1, 3, 1, 1, dtype=torch.float64)).flatten() * 255
    torch.testing.assert_close(white, torch.tensor([235.0, 128.0, 128.0], dtype=torch.float64))


def _textbook_y(rgb: torch.Tensor) -> torch.Tensor:
    """The formula as written in the literature, one fresh tensor per operation."""
    r, g, b = rgb.unbind(dim=-3)
    return ((16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0).unsqueeze(-3)


def test_rgb_to_cbcr_is_bit_identical_to_the_textbook_expressions():
    # The upscaler takes an RGB image's chroma from rgb_to_cbcr: it must be the formula's value.
    from srlab.protocol.colour import rgb_to_cbcr, rgb_to_ycbcr

    g = torch.Generator().manual_seed(1)
    for dtype in (torch.float32, torch.float64):
        rgb = torch.randint(0, 256, (2, 3, 9, 11), generator=g).to(dtype) / 255
        r, gr, b = rgb.unbind(dim=-3)
        cb = (128.0 + -37.797 * r + -74.203 * gr + 112.0 * b) / 255.0
        cr = (128.0 + 112.0 * r + -93.786 * gr + -18.214 * b) / 255.0
        cbcr = rgb_to_cbcr(rgb)
        assert cbcr.shape == (2, 2, 9, 11)
        assert torch.equal(cbcr, torch.stack([cb, cr], dim=-3))
        assert torch.equal(rgb_to_ycbcr(rgb)[:, 1:], cbcr)


def test_rgb_to_y_is_bit_identical_to_the_textbook_expression():
    # rgb_to_y works in place on two buffers for speed; every value must stay the same, in every
    # dtype, layout and autograd mode, since scores and golden digests depend on it.
    from srlab.protocol.colour import rgb_to_y

    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        uint8_like = torch.randint(0, 256, (4, 3, 17, 9), generator=g).to(dtype) / 255
        for rgb in (uint8_like, torch.rand(3, 5, 8, generator=g).to(dtype)):
            assert torch.equal(rgb_to_y(rgb), _textbook_y(rgb))
    channels_last = torch.rand(2, 3, 6, 6, generator=g).contiguous(
        memory_format=torch.channels_last
    )
    assert torch.equal(rgb_to_y(channels_last), _textbook_y(channels_last))
    with torch.inference_mode():
        rgb = torch.rand(1, 3, 4, 4, generator=g)
        assert torch.equal(rgb_to_y(rgb), _textbook_y(rgb))
    rgb = torch.rand(1, 3, 4, 4, generator=g, requires_grad=True)
    y = rgb_to_y(rgb)
    assert torch.equal(y, _textbook_y(rgb))
    y.sum().backward()
    torch.testing.assert_close(
        rgb.grad[0, :, 0, 0] * 255, torch.tensor([65.481, 128.553, 24.966]), rtol=0, atol=1e-4
    )


def test_ycbcr_to_rgb_integer_is_the_rounded_clamped_inverse_in_interleaved_memory():
    # The upscaler's fused output pass must give the pixels of the unfused protocol path: equal
    # except where float rounding puts a value within ~1e-4 of a rounding boundary (one level).
    from srlab.protocol.colour import rgb_to_ycbcr, ycbcr_to_rgb, ycbcr_to_rgb_integer

    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, 3, 64, 80, generator=g)
    rgb[0, :, :4] = torch.tensor([0.0, 1.0, 0.0])[:, None, None]  # saturated rows
    ycc = rgb_to_ycbcr(rgb)
    ycc[1, 0, :2] += 0.2  # Y pushed out of gamut: clamped to the grid's ends
    ycc[1, 0, 2:4] -= 0.3
    # Float32 itself leaves ~0.3% of 16-bit values one level from the float64 truth.
    for max_value, dtype, rate in ((255, torch.uint8, 1e-3), (65535, torch.uint16, 1e-2)):
        got = ycbcr_to_rgb_integer(ycc[:, :1], ycc[:, 1:], max_value, dtype)
        assert got.dtype == dtype and got.shape == rgb.shape
        assert got.is_contiguous(memory_format=torch.channels_last)
        want = (ycbcr_to_rgb(ycc.double()).clamp(0, 1) * max_value + 0.5).floor()
        diff = (got.to(torch.int64) - want.to(torch.int64)).abs()
        assert int(diff.max()) <= 1
        assert float((diff > 0).double().mean()) < rate
        assert int(got.to(torch.int64).min()) == 0 and int(got.to(torch.int64).max()) == max_value
    try:
        ycbcr_to_rgb_integer(ycc[:, :1], ycc[:, 1:], 255, torch.float32)
    except ValueError as e:
        assert "integer" in str(e)
    else:
        raise AssertionError("a float output dtype must be refused")
