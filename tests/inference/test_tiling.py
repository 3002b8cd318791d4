"""srlab.inference.tiling: tiles cover the image once, and tiled output equals whole-image output."""

from __future__ import annotations

import numpy as np
import torch

from tests.conftest import SAMPLE_CKPT, smooth_image


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

    model = load_model(SAMPLE_CKPT)
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
