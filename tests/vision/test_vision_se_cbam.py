"""SE and CBAM vs timm's SEModule / CbamModule with copied weights; the ResNet variants."""

from __future__ import annotations

import pytest
import torch

from danlu.errors import DanluError
from danlu.models import create_model
from danlu.vision.attention_blocks import CBAM, SqueezeExcite

timm_layers = pytest.importorskip("timm.layers")
timm_cbam = pytest.importorskip("timm.layers.cbam")


def _check_same(mine: torch.nn.Module, ref: torch.nn.Module, x: torch.Tensor) -> None:
    mine.load_state_dict(ref.state_dict())  # strict: same names and shapes
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = mine(x1), ref(x2)
    torch.testing.assert_close(y1, y2, atol=1e-6, rtol=1e-5)
    w = torch.randn_like(y1)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-6, rtol=1e-5)
    refp = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        torch.testing.assert_close(p.grad, refp[name].grad, atol=1e-6, rtol=1e-5, msg=name)


def test_se_equals_timm_semodule() -> None:
    torch.manual_seed(0)
    ref = timm_layers.SEModule(12, rd_channels=3)
    _check_same(SqueezeExcite(12, reduction=4), ref, torch.randn(2, 12, 5, 6))


@pytest.mark.parametrize("train", [True, False])
def test_cbam_equals_timm_cbammodule(train: bool) -> None:
    torch.manual_seed(0)
    ref = timm_cbam.CbamModule(16, rd_channels=4, spatial_kernel_size=7)
    with torch.no_grad():  # non-trivial BN statistics so eval mode is tested too
        ref.spatial.conv.bn.running_mean.fill_(0.3)
        ref.spatial.conv.bn.running_var.fill_(2.0)
    mine = CBAM(16, reduction=4)
    mine.train(train)
    ref.train(train)
    _check_same(mine, ref, torch.randn(3, 16, 7, 5))


def test_se_equals_timm_efficientnet_squeeze_excite() -> None:
    blocks = pytest.importorskip("timm.models._efficientnet_blocks")
    torch.manual_seed(1)
    ref = blocks.SqueezeExcite(12, rd_ratio=0.25)
    mine = SqueezeExcite(12, reduction=4)
    rename = {"conv_reduce": "fc1", "conv_expand": "fc2"}
    mine.load_state_dict({rename[k.split(".")[0]] + k[k.index("."):]: v for k, v in ref.state_dict().items()})
    x = torch.randn(2, 12, 5, 5)
    torch.testing.assert_close(mine(x), ref(x), atol=1e-6, rtol=1e-5)


def test_parity_can_fail() -> None:
    ref = timm_layers.SEModule(8, rd_channels=2)
    mine = SqueezeExcite(8, reduction=4)
    mine.load_state_dict(ref.state_dict())
    with torch.no_grad():
        mine.fc2.bias += 1.0
    x = torch.randn(1, 8, 4, 4)
    assert (mine(x) - ref(x)).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["se_resnet_small", "cbam_resnet_small"])
def test_attention_resnets_train_and_add_parameters(name: str) -> None:
    torch.manual_seed(0)
    base = create_model("resnet_small", in_channels=1, num_classes=4, widths=[8, 16], blocks=1)
    m = create_model(name, in_channels=1, num_classes=4, widths=[8, 16], blocks=1, reduction=4)
    n_base = sum(p.numel() for p in base.parameters())
    n = sum(p.numel() for p in m.parameters())
    # SE per block: C*C/r + C/r + C/r*C + C; widths 8 and 16, r=4
    se = sum(2 * c * (c // 4) + c // 4 + c for c in (8, 16))
    cbam = sum(2 * c * (c // 4) for c in (8, 16)) + 2 * (2 * 49 + 2)
    assert n - n_base == (se if name.startswith("se") else cbam)
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    torch.nn.functional.cross_entropy(m(x), y).backward()
    attn = m.blocks[0].bn2.attn
    assert next(attn.parameters()).grad.abs().sum() > 0


def test_plain_resnet_weights_map_into_the_variant() -> None:
    torch.manual_seed(0)
    base = create_model("resnet_small", in_channels=1, num_classes=3, widths=[8], blocks=1)
    m = create_model("se_resnet_small", in_channels=1, num_classes=3, widths=[8], blocks=1)
    sd = {k.replace("bn2.", "bn2.norm."): v for k, v in base.state_dict().items()}
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not unexpected and all(".attn." in k for k in missing)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(DanluError, match=r"\(B, 8, H, W\)"):
        SqueezeExcite(8)(torch.randn(1, 4, 3, 3))
    with pytest.raises(DanluError, match="odd"):
        CBAM(8, spatial_kernel_size=4)
    with pytest.raises(DanluError, match="reduction"):
        SqueezeExcite(8, reduction=0)
