"""srlab.inference.tiling: tiles cover the image once, and tiled output equals whole-image output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srlab.data.imageio import ImageData
from tests.conftest import SAMPLE_CKPT, smooth_image
from tests.models.test_models import MODEL_CONFIGS


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


def _he_initialised(name: str):
    """The model of ``conf/model/<name>.yaml`` at x3 with He-initialised convolutions: unlike the
    configs' own small output-layer init, distant LR pixels then matter as in a trained network."""
    from torch import nn

    from tests.models.test_models import build_net

    torch.manual_seed(0)
    net, _ = build_net(name, 3)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net.eval()


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_item05_tiled_equals_untiled_for_every_model(name):
    """Item 5: tile_overlap=auto is the network's measured receptive radius, so tiled inference
    equals whole-image inference for every model config (EDSR-baseline needs 36 LR pixels of
    context: the old fixed default of 16 changed its output)."""
    from srlab.checkpoints import LoadedModel
    from srlab.inference.tiling import tiled_forward
    from srlab.inference.upscale import Upscaler

    net = _he_initialised(name)
    model = LoadedModel(net, name, 3, net.in_channels, None, {})
    overlap = Upscaler(model, "cpu", tile=24).tile_overlap  # what infer's tile_overlap=auto uses
    lr = torch.rand(1, net.in_channels, 12, 60, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = net(lr)
        scale = float(full.abs().max())

        def tiled_error(context: int) -> float:
            return float((tiled_forward(net, lr, 3, tile=24, overlap=context) - full).abs().max())

        assert tiled_error(overlap) <= 1e-5 * scale
        if overlap > 16:  # the old default's context is too short for this network
            assert tiled_error(16) > 1e-4 * scale
        if name == "edsr_baseline":
            assert overlap >= 34  # 34 3x3 convolutions on the LR grid (and the upsampler's)

    # And through infer's Upscaler on an 8-bit image: within 1/255 as the README promises.
    image = ImageData(smooth_image(np.random.default_rng(3), 12, 60, 3), None, 8, "RGB")
    whole = Upscaler(model, "cpu", tile=0).upscale(image).astype(int)
    tiled = Upscaler(model, "cpu", tile=24, tile_overlap=overlap).upscale(image).astype(int)
    assert np.abs(whole - tiled).max() <= 1
