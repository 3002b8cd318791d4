"""Checkpoints written before srlab's package layout changed keep loading: they store the
network's ``_target_`` (``srlab.models.srcnn.SRCNN``…) and ``net.``-prefixed weights, both kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

LEGACY = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "legacy").glob("*.ckpt"))


def test_the_legacy_fixtures_are_there():
    # srcnn_915_x3 (SRCNN, Y), edsr_baseline_x2 (EDSR: residual blocks and upsampler that moved
    # to srlab/models/layers.py), fsrcnn_x3 (deconvolution padding that moved too).
    assert {p.stem for p in LEGACY} == {"srcnn_915_x3", "edsr_baseline_x2", "fsrcnn_x3"}


@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.stem)
def test_a_checkpoint_made_before_the_layout_change_loads_and_runs(path):
    from srlab.checkpoints import load_model

    model = load_model(path)  # strict weight loading: every key still fits
    stored = torch.load(path, map_location="cpu", weights_only=True)
    target = stored["srlab"]["net_config"]["_target_"]
    assert f"{type(model.net).__module__}.{type(model.net).__name__}" == target
    lr = torch.rand(1, model.in_channels, 9, 11)
    with torch.no_grad():
        sr = model.net(lr)
    assert sr.shape == (1, model.in_channels, 9 * model.scale, 11 * model.scale)
    for key, value in model.net.state_dict().items():
        torch.testing.assert_close(value, stored["state_dict"][f"net.{key}"], rtol=0, atol=0)
