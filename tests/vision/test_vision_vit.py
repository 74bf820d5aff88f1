"""ViT built from danlu.attention vs timm's VisionTransformer (same weights): outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from danlu.errors import DanluError
from danlu.models import create_model
from danlu.vision.vit import VisionTransformer, ViTConfig, sincos_2d

timm_vit = pytest.importorskip("timm.models.vision_transformer")


def _pair(pooling: str) -> tuple[VisionTransformer, torch.nn.Module]:
    torch.manual_seed(0)
    cfg = ViTConfig(image_size=12, patch_size=4, in_channels=3, num_classes=5, dim=24, depth=2, heads=3,
                    mlp_ratio=2.0, pooling=pooling)
    timm_kw = {"global_pool": "token"} if pooling == "token" else {"global_pool": "avg", "class_token": False}
    ref = timm_vit.VisionTransformer(img_size=12, patch_size=4, in_chans=3, num_classes=5, embed_dim=24, depth=2,
                                     num_heads=3, mlp_ratio=2.0, **timm_kw)
    mine = VisionTransformer(cfg)
    mine.load_state_dict(ref.state_dict())  # strict: the parameter names are timm's
    return mine, ref


@pytest.mark.parametrize("pooling", ["token", "mean"])
def test_softmax_vit_equals_timm_outputs_and_gradients(pooling: str) -> None:
    mine, ref = _pair(pooling)
    x = torch.randn(4, 3, 12, 12)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = mine(x1), ref(x2)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    w = torch.randn_like(y1)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-5)
    grads = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, atol=1e-5, rtol=1e-5, msg=name)


def test_parity_test_can_fail() -> None:
    mine, ref = _pair("token")
    with torch.no_grad():
        mine.blocks[0].attn.qkv.weight[0, 0] += 0.5
    x = torch.randn(2, 3, 12, 12)
    assert (mine(x) - ref(x)).abs().max() > 1e-4


@pytest.mark.parametrize("kind", ["softmax", "linear", "performer"])
@pytest.mark.parametrize("pos", ["learned", "sincos"])
def test_any_attention_kind_trains_a_step(kind: str, pos: str) -> None:
    torch.manual_seed(0)
    m = create_model("vit", in_channels=1, num_classes=3, image_size=8, patch_size=4, dim=16, depth=1, heads=2,
                     attention=kind, pos=pos, pooling="mean")
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1])
    loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert m.patch_embed.proj.weight.grad.abs().sum() > 0
    assert type(m.blocks[0].attn).__name__.lower().startswith(kind)


def test_sincos_2d_rows_and_columns() -> None:
    pe = sincos_2d(3, 4, 8).view(3, 4, 8)
    # the first half depends on the row only, the second on the column only
    torch.testing.assert_close(pe[:, 0, :4], pe[:, 3, :4])
    torch.testing.assert_close(pe[0, :, 4:], pe[2, :, 4:])
    assert pe[0, 0, 0] == 0 and pe[0, 0, 1] == 1  # sin(0), cos(0)
    assert (pe[1, 0, :4] - pe[0, 0, :4]).abs().max() > 0.1


def test_sincos_vit_takes_other_sizes_learned_does_not() -> None:
    m = create_model("vit", in_channels=1, num_classes=2, image_size=8, patch_size=4, dim=16, depth=1, heads=2,
                     pos="sincos")
    assert m(torch.randn(1, 1, 12, 16)).shape == (1, 2)
    learned = create_model("vit", in_channels=1, num_classes=2, image_size=8, patch_size=4, dim=16, depth=1,
                           heads=2)
    with pytest.raises(DanluError, match="learned positions"):
        learned(torch.randn(1, 1, 12, 12))


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(DanluError, match="multiple of patch_size"):
        VisionTransformer(image_size=10, patch_size=4)
    with pytest.raises(DanluError, match="pooling"):
        VisionTransformer(pooling="max")
    m = VisionTransformer(image_size=8, patch_size=4, in_channels=1, dim=16, heads=2, depth=1)
    with pytest.raises(DanluError, match=r"\(B, 1, H, W\)"):
        m(torch.randn(1, 3, 8, 8))
    with pytest.raises(DanluError, match="not a multiple"):
        m(torch.randn(1, 1, 9, 8))
