"""Every model config in conf/model/ keeps the LR -> SR contract (timm-style: no per-model edits)."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import REPO_ROOT

MODEL_CONFIGS = sorted(p.stem for p in (REPO_ROOT / "conf" / "model").glob("*.yaml"))


def build_net(name: str, scale: int):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from srlab.cli.config import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}", f"data.scale={scale}", "logger=none"])
    return instantiate(cfg.model.net), cfg


def test_model_configs_exist():
    assert {"srcnn", "srcnn_915", "srcnn_935", "bicubic"} <= set(MODEL_CONFIGS)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_model_contract_shape_and_gradients(name: str, scale: int):
    torch.manual_seed(0)
    net, _ = build_net(name, scale)
    assert net.scale == scale and net.in_channels in (1, 3)
    lr = torch.rand(2, net.in_channels, 7, 9)
    sr = net(lr)
    assert sr.shape == (2, net.in_channels, 7 * scale, 9 * scale)
    assert torch.isfinite(sr).all()
    params = [p for p in net.parameters() if p.requires_grad]
    if params:
        sr.square().mean().backward()
        for pname, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), (
                f"{name}: no gradient for {pname}"
            )
            assert p.grad.abs().sum() > 0, f"{name}: zero gradient for {pname}"


@pytest.mark.parametrize(
    "name,expected",
    [
        # 9*9*64+64 + f2*f2*64*32+32 + 5*5*32+1 on the Y channel (Dong et al. 2016).
        ("srcnn_915", 5248 + 2080 + 801),
        ("srcnn_935", 5248 + 18464 + 801),
        ("srcnn", 5248 + 51232 + 801),
    ],
)
def test_srcnn_parameter_counts_match_the_paper(name, expected):
    net, _ = build_net(name, 3)
    assert sum(p.numel() for p in net.parameters()) == expected


def test_srcnn_rgb_mode_follows_in_channels():
    from srlab.models.srcnn import SRCNN

    net = SRCNN(scale=2, in_channels=3)
    assert net(torch.rand(1, 3, 5, 6)).shape == (1, 3, 10, 12)
    with pytest.raises(ValueError, match="odd"):
        SRCNN(scale=2, f2=2)


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_declared_output_layer_is_the_one_that_produces_the_image(name: str):
    """``output_layer`` (the layer that gets ``last_layer_lr_scale``) names the last layer with
    weights that runs in ``forward``, checked by forward hooks rather than by registration order."""
    from srlab.models.layers import output_layer_of

    net, _ = build_net(name, 3)
    ran = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o: ran.append(mod))
        for m in net.modules()
        if next(m.children(), None) is None and any(True for _ in m.parameters(recurse=False))
    ]
    net(torch.rand(1, net.in_channels, 6, 7))
    for hook in hooks:
        hook.remove()
    declared = output_layer_of(net)
    if not ran:  # nothing learned (bicubic)
        assert declared is None and net.output_layer is None
    else:
        assert declared is ran[-1], f"{name}: output_layer={net.output_layer!r}"


def test_a_model_without_an_output_layer_declaration_is_refused_at_start_up():
    from torch import nn

    from srlab.errors import ConfigError
    from srlab.training.lit_module import SRModule

    class Undeclared(nn.Module):
        scale, in_channels = 2, 1

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)

        def forward(self, lr):
            return nn.functional.pixel_shuffle(self.conv(lr), 2)

    with pytest.raises(ConfigError, match="does not declare its output layer"):
        SRModule(net=Undeclared())
    Undeclared.output_layer = "cnov"  # a typo is an error too, not a silent fallback
    with pytest.raises(ConfigError, match="names no submodule"):
        SRModule(net=Undeclared())


def test_last_layer_lr_scale_without_a_learning_rate_is_an_error():
    import functools

    from srlab.errors import ConfigError
    from srlab.models.srcnn import SRCNN
    from srlab.training.lit_module import SRModule

    with pytest.raises(ConfigError, match="last_layer_lr_scale=0.1 needs a base learning rate"):
        SRModule(net=SRCNN(), optimizer=functools.partial(torch.optim.SGD), last_layer_lr_scale=0.1)
    module = SRModule(
        net=SRCNN(), optimizer=functools.partial(torch.optim.Adam, lr=1e-3), last_layer_lr_scale=0.1
    )
    groups = {g["name"]: g for g in module.configure_optimizers().param_groups}
    assert groups["head"]["lr"] == pytest.approx(1e-4) and groups["body"]["lr"] == 1e-3
    assert {id(p) for p in groups["head"]["params"]} == {
        id(p) for p in module.net.conv3.parameters()
    }
