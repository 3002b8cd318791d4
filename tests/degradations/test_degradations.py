"""Degradation steps and pipelines: shape, range, determinism, gradients, grey images, CUDA."""

from __future__ import annotations

import math

import pytest
import torch

from srlab.degradations import (
    JPEG,
    BicubicDegradation,
    DegradationPipeline,
    Downscale,
    GaussianBlur,
    GaussianNoise,
    OneOf,
    PoissonNoise,
    convolve_per_sample,
    gaussian_kernels,
    imresize,
    jpeg_compress,
)
from tests.conftest import compose_train

CONFIGS = ["bicubic", "blur_bicubic", "noisy", "realistic"]


def _steps():
    """Every random step, configured so that it visibly changes the image."""
    return {
        "blur_iso": GaussianBlur(sigma_range=(0.5, 2.0), kernel_size=9),
        "blur_aniso": GaussianBlur(sigma_range=(0.5, 3.0), kernel_size=11, anisotropic_prob=1.0),
        "gaussian_noise": GaussianNoise(sigma_range=(5, 20), grey_prob=0.5),
        "poisson_noise": PoissonNoise(scale_range=(0.5, 2.0), grey_prob=0.5),
        "jpeg": JPEG(quality_range=(20, 60)),
        "one_of": OneOf({"g": GaussianNoise((5, 20)), "p": PoissonNoise((0.5, 2.0))}),
    }


def _config_pipeline(name: str, scale: int = 3):
    from hydra.utils import instantiate

    return instantiate(compose_train([f"degradation={name}", f"data.scale={scale}"]).degradation)


def _images(b=4, c=3, h=24, w=30, seed=0, device="cpu", dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 6, h), torch.linspace(0, 6, w), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(
        yy[None, None] + xx[None, None] * torch.rand(b, c, 1, 1, generator=g) * 2
    )
    return base.to(device=device, dtype=dtype)


# --------------------------------------------------------------------------- every step
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", list(_steps()))
def test_step_shape_range_determinism_and_gradient(name, channels, device):
    step = _steps()[name].to(device)
    x = _images(c=channels, device=device)

    def generator(seed: int) -> torch.Generator:  # on the images' device, as training uses
        return torch.Generator(device=device).manual_seed(seed)

    out = step(x, generator=generator(1))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert out.min() >= 0 and out.max() <= 1
    assert (out - x).abs().mean() > 1e-3  # it does something
    again = step(x, generator=generator(1))
    other = step(x, generator=generator(2))
    assert torch.equal(out, again)
    assert not torch.equal(out, other)
    # sample-then-apply: the parameters alone fix the output.
    params = step.sample_params(x.shape[0], generator(1), x.device)
    assert torch.equal(step.apply_params(x, params), out)
    xg = x.clone().requires_grad_(True)
    step(xg, generator=generator(1)).sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0
    # A CPU generator (validation, evaluate) draws the same parameters and fields on any device.
    on_cpu = _steps()[name](_images(c=channels), generator=torch.Generator().manual_seed(3))
    here = step(x, generator=torch.Generator().manual_seed(3)).cpu()
    assert (here - on_cpu).abs().mean() < 1e-3


@pytest.mark.parametrize("name", list(_steps()))
def test_step_probability_zero_is_identity_and_half_mixes(name):
    x = _images(b=16)
    step = _steps()[name]
    step.p = 0.0
    assert torch.equal(step(x, generator=torch.Generator().manual_seed(0)), x)
    step.p = 0.5
    out = step(x, generator=torch.Generator().manual_seed(0))
    unchanged = [(out[i] == x[i]).all().item() for i in range(16)]
    assert 0 < sum(unchanged) < 16


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
@pytest.mark.parametrize("name", list(_steps()))
def test_step_keeps_dtype(name, dtype):
    x = _images(dtype=dtype)
    out = _steps()[name](x, generator=torch.Generator().manual_seed(0))
    assert out.dtype == dtype and out.shape == x.shape
    ref = _steps()[name](x.float(), generator=torch.Generator().manual_seed(0))
    tol = 1e-4 if dtype == torch.float64 else 0.05
    assert (out.float() - ref).abs().mean() < tol


# --------------------------------------------------------------------------- blur
def test_gaussian_kernels_isotropic_separable_and_rotation():
    s = torch.tensor([1.3])
    k = gaussian_kernels(s, s, torch.tensor([0.7]), 9)[0]
    g = torch.exp(-0.5 * (torch.arange(9.0) - 4) ** 2 / 1.3**2)
    torch.testing.assert_close(k, torch.outer(g, g) / torch.outer(g, g).sum())
    aniso = gaussian_kernels(
        torch.tensor([2.0, 2.0]), torch.tensor([0.5, 0.5]), torch.tensor([0.0, math.pi / 2]), 11
    )
    assert aniso.sum(dim=(-2, -1)).sub(1).abs().max() < 1e-6
    torch.testing.assert_close(aniso[1], aniso[0].T)  # 90° rotation swaps the axes
    assert aniso[0][5].sum() > aniso[0][:, 5].sum()  # wide along x at theta = 0


def test_per_sample_blur_equals_blurring_each_image_alone():
    x = _images(b=3)
    kernels = gaussian_kernels(
        torch.tensor([0.5, 1.0, 2.0]),
        torch.tensor([0.5, 2.0, 1.0]),
        torch.tensor([0.0, 0.3, 1.0]),
        7,
    )
    batched = convolve_per_sample(x, kernels)
    for i in range(3):
        torch.testing.assert_close(
            batched[i : i + 1], convolve_per_sample(x[i : i + 1], kernels[i : i + 1])
        )
    flat = torch.full((3, 3, 10, 10), 0.4)
    torch.testing.assert_close(
        convolve_per_sample(flat, kernels), flat
    )  # normalised, reflected borders
    delta = torch.zeros(7, 7)
    delta[3, 3] = 1
    torch.testing.assert_close(convolve_per_sample(x, delta), x)
    assert convolve_per_sample(torch.rand(1, 1, 3, 3), kernels[:1]).shape == (
        1,
        1,
        3,
        3,
    )  # tiny image


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_convolution_methods_correlate_like_conv2d(method):
    x = _images(b=2, h=20, w=17, dtype=torch.float64)
    kernels = torch.rand(2, 11, 11, dtype=torch.float64)
    reference = convolve_per_sample(x, kernels, "direct")
    torch.testing.assert_close(
        convolve_per_sample(x, kernels, method), reference, atol=1e-10, rtol=0
    )
    corner = torch.zeros(11, 11, dtype=torch.float64)
    corner[0, 0] = 1  # correlation: out[y, x] = x[y - 5, x - 5]
    shifted = convolve_per_sample(x, corner, method)
    torch.testing.assert_close(shifted[..., 5:, 5:], x[..., :-5, :-5], atol=1e-10, rtol=0)
    half = convolve_per_sample(x.half(), kernels, method)
    assert half.dtype == torch.float16


# --------------------------------------------------------------------------- noise
def test_gaussian_noise_strength_and_grey_option():
    x = torch.full((2, 3, 64, 64), 0.5)
    step = GaussianNoise(sigma_range=10.0, grey_prob=0.0)
    out = step(x, generator=torch.Generator().manual_seed(0))
    assert (out - x).std().item() == pytest.approx(10 / 255, rel=0.05)
    grey = GaussianNoise(sigma_range=10.0, grey_prob=1.0)(
        x, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(grey[:, 0], grey[:, 1])
    torch.testing.assert_close(grey[:, 0], grey[:, 2])


def test_poisson_noise_variance_follows_intensity():
    x = torch.cat([torch.full((1, 1, 96, 96), 0.1), torch.full((1, 1, 96, 96), 0.8)])
    out = PoissonNoise(scale_range=1.0)(x, generator=torch.Generator().manual_seed(0))
    for i, level in enumerate((0.1, 0.8)):
        expected_std = math.sqrt(level * 255) / 255
        assert (out[i] - x[i]).std().item() == pytest.approx(expected_std, rel=0.1)
        assert (out[i] - x[i]).mean().abs().item() < 0.2 * expected_std


# --------------------------------------------------------------------------- JPEG
def test_jpeg_quality_orders_the_error_and_is_per_sample():
    x = _images(b=1).expand(3, -1, -1, -1)
    out = jpeg_compress(x, torch.tensor([10.0, 50.0, 95.0]))
    errors = [(out[i] - x[i]).abs().mean().item() for i in range(3)]
    assert errors[0] > errors[1] > errors[2]
    torch.testing.assert_close(out[1:2], jpeg_compress(x[1:2], torch.tensor([50.0])))
    grey = jpeg_compress(x[:, :1], torch.tensor([10.0, 50.0, 95.0]))
    assert grey.shape == (3, 1, 24, 30)
    torch.testing.assert_close(
        grey,
        jpeg_compress(x[:, :1].expand(-1, 3, -1, -1), torch.tensor([10.0, 50.0, 95.0])).mean(
            1, keepdim=True
        ),
    )


# --------------------------------------------------------------------------- pipelines
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", CONFIGS)
def test_config_pipelines_make_lr_deterministically(name, channels, device):
    degrade = _config_pipeline(name, scale=3).to(device)
    hr = _images(b=4, c=channels, h=33, w=36, device=device)

    def generator(seed: int) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(seed)

    lr = degrade(hr, generator=generator(5))
    assert lr.shape == (4, channels, 11, 12) and lr.device == hr.device
    assert lr.min() >= 0 and lr.max() <= 1
    torch.testing.assert_close(lr * 255, torch.round(lr * 255), atol=1e-4, rtol=0)  # uint8 grid
    assert torch.equal(lr, degrade(hr, generator=generator(5)))
    if name != "bicubic":
        assert not torch.equal(lr, degrade(hr, generator=generator(6)))
        bicubic = BicubicDegradation(3)(hr)
        assert (lr - bicubic).abs().mean() > 1e-3
    hr_g = hr.clone().requires_grad_(True)
    degrade(hr_g, generator=generator(5)).sum().backward()
    assert torch.isfinite(hr_g.grad).all() and hr_g.grad.abs().sum() > 0
    # Per-image CPU generators (validation, evaluate) make the CPU's LR on any device: at most one
    # uint8 step apart where float rounding differs.
    cpu_lr = _config_pipeline(name, scale=3)(hr.cpu(), generator=torch.Generator().manual_seed(7))
    here = degrade(hr, generator=torch.Generator().manual_seed(7)).cpu()
    diff = (here - cpu_lr).abs()
    assert diff.max() <= 1 / 255 + 1e-6 and (diff > 0).float().mean() < 0.01


def test_bicubic_degradation_equals_quantized_imresize():
    hr = _images(b=2, h=24, w=36)
    expected = torch.floor(imresize(hr, 1 / 4) * 255 + 0.5).clamp(0, 255) / 255
    torch.testing.assert_close(BicubicDegradation(4)(hr), expected, atol=0, rtol=0)
    pipeline = DegradationPipeline(4, {"resize": Downscale(4)})
    torch.testing.assert_close(pipeline(hr), expected, atol=0, rtol=0)


def test_pipeline_samples_everything_before_applying():
    pipeline = _config_pipeline("realistic", scale=2)
    hr = _images(b=3, h=24, w=24)
    params = pipeline.sample_params(3, torch.Generator().manual_seed(0), hr.device)
    assert list(params) == ["blur", "resize", "noise", "jpeg"]
    # Applying the same draw twice, or to a second copy, gives the same LR (no hidden randomness).
    assert torch.equal(pipeline.apply_params(hr, params), pipeline.apply_params(hr.clone(), params))
    assert torch.equal(
        pipeline.apply_params(hr, params), pipeline(hr, generator=torch.Generator().manual_seed(0))
    )


def test_pipeline_checks_its_scale_and_steps():
    with pytest.raises(ValueError, match="no resizing step"):
        DegradationPipeline(2, {"blur": GaussianBlur()})
    pipeline = DegradationPipeline(3, {"resize": Downscale(2)})
    with pytest.raises(ValueError, match="downscale by scale"):
        pipeline(torch.rand(1, 3, 12, 12))
    with pytest.raises(ValueError, match="divisible"):
        DegradationPipeline(3, {"resize": Downscale(3)})(torch.rand(1, 3, 13, 12))
    with pytest.raises(ValueError, match="keep the image size"):
        OneOf([Downscale(2)])
    with pytest.raises(ValueError, match="sigma_range"):
        GaussianBlur(sigma_range=(3.0, 1.0))
    with pytest.raises(ValueError, match="quality_range"):
        JPEG(quality_range=(0.0, 120.0))
    # Hydra: a step removed from the command line (degradation.steps.jpeg=null) is dropped.
    from hydra.utils import instantiate

    cfg = compose_train(["degradation=realistic", "data.scale=2", "degradation.steps.jpeg=null"])
    assert list(instantiate(cfg.degradation).steps) == ["blur", "resize", "noise"]


def test_pipelines_are_ordinary_modules():
    pipeline = _config_pipeline("realistic", scale=2)
    visited = []
    pipeline.apply(visited.append)  # nn.Module.apply still walks the tree
    assert len(visited) >= 6
    pipeline = pipeline.to(torch.float64).to("cpu")
    hr = _images(b=2, h=24, w=24, dtype=torch.float64)
    assert pipeline(hr, generator=torch.Generator().manual_seed(0)).dtype == torch.float64


def test_datamodule_validation_replays_the_same_lr_per_image():
    from srlab.data.datamodule import SRDataModule

    dm = SRDataModule(
        None, None, scale=2, patch_size=24, degradation=_config_pipeline("realistic", scale=2)
    )
    hr = (_images(b=1, h=24, w=24) * 255).round().to(torch.uint8)
    first = dm.degrade({"hr": hr, "index": torch.tensor([3])}, training=False)["lr"]
    assert torch.equal(
        first, dm.degrade({"hr": hr, "index": torch.tensor([3])}, training=False)["lr"]
    )
    assert not torch.equal(
        first, dm.degrade({"hr": hr, "index": torch.tensor([4])}, training=False)["lr"]
    )
    a = dm.degrade({"hr": hr}, training=True)["lr"]
    b = dm.degrade({"hr": hr}, training=True)["lr"]
    assert a.shape == (1, 3, 12, 12) and not torch.equal(a, b)  # training keeps drawing


def test_training_runs_with_the_realistic_pipeline(tmp_path, image_dirs):
    from srlab.checkpoints import load_model
    from srlab.data.sources import FolderImages
    from srlab.protocol.scoring import evaluate_source
    from srlab.train import train
    from tests.conftest import fast_overrides

    overrides = fast_overrides(*image_dirs, steps=2) + ["degradation=realistic", "model=srcnn_915"]
    metrics = train(compose_train(overrides, output_dir=tmp_path / "run"))
    assert math.isfinite(metrics["train/loss"])
    # Validation scored the trained weights on the realistic LR images: srlab.evaluate with the
    # same degradation and seed re-makes them and gets the same PSNR.
    net = load_model(tmp_path / "run" / "checkpoints" / "last.ckpt").net
    rescored = evaluate_source(
        net, FolderImages(image_dirs[1]), 3, degradation=_config_pipeline("realistic"), seed=42
    )
    assert metrics["val/psnr"] == pytest.approx(rescored.psnr, abs=1e-4)
    # The baseline saw the degraded LR too (blur, noise, JPEG: well below clean bicubic).
    from srlab.models.bicubic import Bicubic

    clean = evaluate_source(Bicubic(3, 1), FolderImages(image_dirs[1]), 3)
    assert metrics["val/psnr_bicubic"] < clean.psnr - 1.0


def test_one_of_on_cpu_applies_each_step_to_its_own_samples_only():
    # Deterministic alternatives: each sample must equal its chosen step applied to it alone.
    from srlab.degradations.blur import GaussianBlur
    from srlab.degradations.jpeg import JPEG

    blur, jpeg = GaussianBlur(1.5, kernel_size=7), JPEG(50.0)
    one_of = OneOf({"blur": blur, "jpeg": jpeg})
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    params = one_of.sample_params(6, torch.Generator().manual_seed(1), x.device)
    out = one_of.apply_params(x, params)
    choice = params["choice"].tolist()
    assert set(choice) == {0, 1}
    for i, c in enumerate(choice):
        step, name = (blur, "blur") if c == 0 else (jpeg, "jpeg")
        sub = {k.split(".", 1)[1]: v[i : i + 1] for k, v in params.items() if k.startswith(name)}
        torch.testing.assert_close(out[i : i + 1], step.apply_params(x[i : i + 1], sub))


def test_seeds_from_a_generator_state_replay_and_advance():
    from srlab.degradations.base import seed_from_state

    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    first, second = seed_from_state(g), seed_from_state(g)
    assert isinstance(first, int) and first != second
    g.set_state(state)
    assert seed_from_state(g) == first and 0 <= first < 2**62


def test_device_seeds_are_known_on_the_host():
    # A seed draw_seed made is read from its host copy; any other tensor by value.
    from srlab.degradations.base import host_value

    assert host_value(torch.tensor(7)) == 7
