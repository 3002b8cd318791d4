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
