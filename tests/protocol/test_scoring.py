"""The protocol's one scoring path: exact whatever the precision settings, device or colour mode."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import smooth_image

# (float32 matmul precision, autocast on?) as a trainer may leave them: `matmul_precision: high`
# (TF32 on NVIDIA GPUs), `medium` (bfloat16 products, also on CPUs with AMX/AVX512-BF16 via
# oneDNN) and a `bf16-mixed` trainer's autocast.
PRECISION_SETTINGS = [("high", False), ("medium", False), ("highest", True), ("medium", True)]


def _hr_batch(device, seed: int = 0, size=(36, 42)) -> torch.Tensor:
    import numpy as np

    img = smooth_image(np.random.default_rng(seed), *size)
    return torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(device)


def _srcnn(device):
    from srlab.models.srcnn import SRCNN

    torch.manual_seed(0)
    return SRCNN(scale=3, f2=1).to(device).eval()


def _protocol_outputs(net, hr: torch.Tensor) -> dict[str, torch.Tensor]:
    from srlab.degradations.base import BicubicDegradation
    from srlab.degradations.resize import imresize
    from srlab.protocol.colour import rgb_to_y
    from srlab.protocol.scoring import score_batch

    lr = BicubicDegradation(3)(hr)  # how validation and evaluate make LR images
    scores = score_batch(net, lr, hr, bicubic=True)
    return {
        "lr": lr,
        "pre-upsampling": imresize(rgb_to_y(lr), 3),  # SRCNN's and VDSR's first step
        "sr": scores.sr,
        "psnr": scores.psnr,
        "ssim": scores.ssim,
        "psnr_bicubic": scores.psnr_bicubic,
        "ssim_bicubic": scores.ssim_bicubic,
    }


@pytest.mark.parametrize("precision,autocast", PRECISION_SETTINGS)
def test_item03_scores_and_lr_do_not_depend_on_precision_settings(
    device, precision, autocast, restore_precision
):
    """Item 3: the MATLAB bicubic (LR images, SRCNN/VDSR pre-upsampling, the baseline) and the
    scores are computed in full float32 whatever `matmul_precision`, TF32 and autocast say."""
    net, hr = _srcnn(device), _hr_batch(device)
    torch.set_float32_matmul_precision("highest")
    reference = _protocol_outputs(net, hr)

    torch.set_float32_matmul_precision(precision)
    dtype = torch.bfloat16 if device.type == "cpu" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype, enabled=autocast):
        got = _protocol_outputs(net, hr)
        # The block inside the protocol changed the global settings only while it ran.
        assert torch.is_autocast_enabled(device.type) == autocast
    assert torch.get_float32_matmul_precision() == precision
    for key, want in reference.items():
        assert got[key].dtype == want.dtype, key
        assert torch.equal(got[key], want), f"{key} changed under {precision}/{autocast}"
