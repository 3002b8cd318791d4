"""Paper-protocol PSNR/SSIM: BT.601 luma, uint8 output, border crop, per-image mean, ssim.m."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from srlab.protocol.colour import rgb_to_y
from srlab.protocol.metrics import luma, psnr_per_image, shave, ssim_per_image


def _pair(seed: int, shape=(2, 3, 40, 36), noise: float = 0.05):
    g = torch.Generator().manual_seed(seed)
    hr = (
        torch.floor(torch.rand(shape, generator=g) * 256).clamp(max=255) / 255
    )  # uint8 grid, like files
    sr = (hr + noise * torch.randn(shape, generator=g)).clamp(0, 1)
    return sr, hr


def test_bt601_luma_values():
    rgb = torch.tensor(
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    )
    y = rgb_to_y(rgb.view(5, 3, 1, 1)).flatten() * 255
    expected = [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966]
    torch.testing.assert_close(y, torch.tensor(expected), atol=1e-4, rtol=0)
    # Grey ground truth: scored on its grey channel; a 3-channel SR of it is averaged back.
    grey = torch.rand(1, 1, 4, 4)
    sr_y, hr_y = luma(grey.expand(1, 3, 4, 4), grey)
    torch.testing.assert_close(sr_y, grey)
    torch.testing.assert_close(hr_y, grey)


def test_psnr_known_value_crop_and_uint8_rounding():
    hr = torch.full((1, 1, 20, 20), 100 / 255)
    sr = hr + 2 / 255
    sr[..., :3, :] = 0  # damage only the border
    assert psnr_per_image(sr, hr, crop_border=3).item() == pytest.approx(
        10 * math.log10(255**2 / 4)
    )
    assert psnr_per_image(sr, hr, crop_border=0).item() < 20
    # The output is rounded to uint8 first: an offset below half a level disappears.
    assert math.isinf(psnr_per_image(hr + 0.4 / 255, hr).item())
    assert psnr_per_image(hr + 0.6 / 255, hr).item() == pytest.approx(10 * math.log10(255**2))
    assert ssim_per_image(hr + 0.4 / 255, hr).item() == pytest.approx(1.0)


def test_psnr_and_ssim_match_scikit_image_on_y(device):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    sr, hr = _pair(0)
    psnr = psnr_per_image(sr.to(device), hr.to(device), 4).cpu()
    ssim = ssim_per_image(sr.to(device), hr.to(device), 4).cpu()
    sr_q = torch.floor(sr.double() * 255 + 0.5) / 255
    hr_q = torch.floor(hr.double() * 255 + 0.5) / 255
    for i in range(2):
        y_sr = shave(rgb_to_y(sr_q[i : i + 1].double()), 4)[0, 0].numpy() * 255
        y_hr = shave(rgb_to_y(hr_q[i : i + 1]), 4)[0, 0].numpy() * 255
        psnr_ref = peak_signal_noise_ratio(y_hr, y_sr, data_range=255)
        # ssim.m: 11x11 Gaussian (sigma 1.5), population covariances, 'valid' region.
        ssim_ref = structural_similarity(
            y_hr,
            y_sr,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert psnr[i].item() == pytest.approx(psnr_ref, abs=1e-9)
        assert ssim[i].item() == pytest.approx(ssim_ref, abs=1e-9)


def test_ssim_long_sides_use_the_convolution_path(monkeypatch):
    import srlab.protocol.metrics as metrics

    sr, hr = _pair(1, shape=(1, 3, 30, 44))
    banded = ssim_per_image(sr, hr, 2)
    monkeypatch.setattr(metrics, "_BANDED_MAX_LENGTH", 0)
    torch.testing.assert_close(ssim_per_image(sr, hr, 2), banded, atol=1e-12, rtol=0)


def test_round_y_variant_rounds_luma_to_integers():
    sr, hr = _pair(2)
    y_sr = torch.floor(rgb_to_y(torch.floor(sr.double() * 255 + 0.5) / 255) * 255 + 0.5)
    y_hr = torch.floor(rgb_to_y(hr.double()) * 255 + 0.5)
    mse = (y_sr - y_hr).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(psnr_per_image(sr, hr, round_y=True), 10 * torch.log10(255**2 / mse))
    assert not torch.allclose(psnr_per_image(sr, hr, round_y=True), psnr_per_image(sr, hr))


def test_y_model_output_is_scored_as_y():
    sr, hr = _pair(3)
    sr_y = rgb_to_y(sr)
    # A 1-channel output against RGB ground truth is taken as Y directly.
    torch.testing.assert_close(psnr_per_image(sr_y, hr), psnr_per_image(sr, hr), atol=0.05, rtol=0)


def test_validation_means_average_over_images_not_pixels():
    from srlab.training.metrics import ImageMean

    psnr, ssim = ImageMean(), ImageMean()
    pairs = [_pair(4, (1, 3, 30, 30), noise=0.01), _pair(5, (2, 3, 24, 40), noise=0.1)]
    values = []
    for sr, hr in pairs:
        psnr.update(psnr_per_image(sr, hr, 2))
        ssim.update(ssim_per_image(sr, hr, 2))
        values.append(psnr_per_image(sr, hr, 2))
    per_image = torch.cat(values)
    assert psnr.compute().item() == pytest.approx(per_image.mean().item(), rel=1e-6)
    pooled_mse = np.mean([10 ** (-v / 10) for v in per_image.tolist()])
    assert (
        abs(psnr.compute().item() - (-10 * math.log10(pooled_mse))) > 0.5
    )  # not a pixel-pooled PSNR
    expected_ssim = torch.cat([ssim_per_image(sr, hr, 2) for sr, hr in pairs]).mean()
    assert ssim.compute().item() == pytest.approx(expected_ssim.item(), rel=1e-6)


def test_bad_inputs_raise():
    sr, hr = _pair(6, (1, 3, 20, 20))
    with pytest.raises(ValueError, match="differ in size"):
        psnr_per_image(sr[..., :-1], hr)
    with pytest.raises(ValueError, match="crop_border"):
        psnr_per_image(sr, hr, crop_border=10)
    with pytest.raises(ValueError, match="SSIM needs"):
        ssim_per_image(sr, hr, crop_border=5)
