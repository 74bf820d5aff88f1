"""Integer-only runtime vs the fake-quant simulation, vs exact arithmetic, and vs torch's quantized engine."""

from __future__ import annotations

import warnings

import pytest
import torch
from quant_helpers import convert_and_compare, trained_qat
from torch import nn

from danlu.errors import DanluError
from danlu.models import create_model
from danlu.quant.config import QConfig
from danlu.quant.int_modules import int_nbytes
from danlu.quant.lowering import convert
from danlu.quant.prepare import calibrate, prepare_ptq, prepare_qat

MODELS = [
    ("cnn", {"in_channels": 1, "num_classes": 10, "widths": [8, 16]}, (1, 12, 12)),
    ("mlp", {"in_features": 64, "num_classes": 10, "depth": 3, "width": 32, "residual": True, "norm": "bn"},
     (1, 8, 8)),
    ("resnet_small", {"in_channels": 1, "num_classes": 10, "widths": [8, 16], "blocks": 1}, (1, 8, 8)),
]


@pytest.mark.parametrize("name,kwargs,shape", MODELS, ids=[m[0] for m in MODELS])
def test_integer_model_equals_simulation(name: str, kwargs: dict, shape: tuple[int, ...]) -> None:
    qat = trained_qat(create_model(name, **kwargs), shape)
    x = torch.randn(64, *shape)
    im, diff = convert_and_compare(qat, x)
    assert diff.max() <= 1  # bound: float32 rounding of the simulation near a tie (docs/quant.md)
    assert (diff == 0).float().mean() >= 0.999
    with torch.no_grad():
        assert (im.predict(x).argmax(1) == qat(x).argmax(1)).float().mean() >= 0.98


def test_mismatches_only_at_float32_near_ties() -> None:
    """A wide layer (K=1024): the few 1-LSB differences sit where the exact value is within 1e-3 of a tie."""
    torch.manual_seed(0)
    qat = prepare_qat(nn.Sequential(nn.Linear(1024, 256)))
    qat.train()
    for _ in range(3):
        qat(torch.randn(64, 1024))
    im = convert(qat)
    x = torch.randn(500, 1024)
    codes = im(x)
    with torch.no_grad():
        sim = qat(x)
    layer, stub = im.graph.get_submodule("q_0"), im.graph.get_submodule("q_input")
    acc = (stub(x) - int(layer.in_zp)) @ layer.weight.long().t() + layer.bias.long()
    s_in, s_w, s_out = (float(stub.scale), qat.get_submodule("q_0").weight_fq.qparams()[0].double(),
                        float(im.out_scale))
    exact = acc.double() * (s_in * s_w) / s_out + int(im.out_zp)  # the real value before rounding
    sim_codes = torch.round(sim / im.out_scale) + im.out_zp
    diff = (sim_codes - codes).abs()
    assert diff.max() <= 1
    where = diff > 0
    assert where.float().mean() < 1e-3
    dist_to_tie = ((exact - exact.floor()) - 0.5).abs()
    assert (dist_to_tie[where] < 1e-3).all()
    assert dist_to_tie.median() > 0.1  # the test is not vacuous: typical values are far from ties
    far = dist_to_tie > 1e-6  # away from ties the runtime is the exact real arithmetic of eq. 4-5
    assert torch.equal(codes[far], torch.round(exact[far]).clamp(0, 255).long())


def _engine_ok() -> str | None:
    engines = [e for e in ("fbgemm", "x86", "qnnpack") if e in torch.backends.quantized.supported_engines]
    return engines[0] if engines else None


@pytest.mark.skipif(_engine_ok() is None, reason="this torch build has no quantized CPU engine (fbgemm/x86/qnnpack)")
@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_layer_equals_torch_quantized_engine(kind: str) -> None:
    import torch.ao.nn.quantized as nnq

    torch.manual_seed(3)
    layer = nn.Conv2d(3, 8, 3, padding=1, stride=2) if kind == "conv" else nn.Linear(24, 8)
    shape = (3, 9, 9) if kind == "conv" else (24,)
    qat = prepare_qat(nn.Sequential(layer, nn.ReLU()))
    qat.train()
    for _ in range(3):
        qat(torch.randn(16, *shape))
    im = convert(qat)
    ours_layer, stub = im.graph.get_submodule("q_0"), im.graph.get_submodule("q_input")
    s_w = qat.get_submodule("q_0").weight_fq.qparams()[0].double()
    x = torch.randn(32, *shape)
    q_in = stub(x)
    s_in, z_in = float(stub.scale), int(stub.zero_point)
    previous = torch.backends.quantized.engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates its quantized tensors; still the reference here
        torch.backends.quantized.engine = _engine_ok()
        ref = nnq.Conv2d(3, 8, 3, padding=1, stride=2) if kind == "conv" else nnq.Linear(24, 8)
        w = torch._make_per_channel_quantized_tensor(ours_layer.weight, s_w, torch.zeros(8, dtype=torch.long), 0)
        ref.set_weight_bias(w, (ours_layer.bias.double() * s_in * s_w).float())
        ref.scale, ref.zero_point = float(im.out_scale), int(im.out_zp)
        out = ref(torch._make_per_tensor_quantized_tensor(q_in.to(torch.uint8), s_in, z_in)).int_repr().long()
        torch.backends.quantized.engine = previous
    ours = ours_layer(q_in)
    diff = (out.clamp_min(int(ours_layer.clamp[0])) - ours).abs()  # ReLU applied as the output clamp
    assert diff.max() <= 1  # the engines requantise in float; ours in M0 2^-n fixed point
    assert (diff == 0).float().mean() > 0.99


def test_relu6_fused_as_clamp() -> None:
    torch.manual_seed(4)
    qat = prepare_qat(nn.Sequential(nn.Linear(16, 32), nn.ReLU6(), nn.Linear(32, 4)))
    qat.train()
    for _ in range(3):
        qat(torch.randn(32, 16) * 4)
    inner = qat.get_submodule("q_0")
    assert inner.act == "relu6"
    im = convert(qat)
    lo, hi = im.graph.get_submodule("q_0").clamp.tolist()
    s, z = inner.out_fq.qparams()
    assert lo == int(z) and hi == min(255, int(round(6.0 / float(s))) + int(z))
    x = torch.randn(64, 16) * 4
    with torch.no_grad():
        assert torch.equal(im.predict(x), qat(x))


def test_ptq_calibrate_convert_and_lsq() -> None:
    torch.manual_seed(5)
    model = create_model("cnn", in_channels=1, num_classes=10, widths=[4, 8]).eval()
    ptq = calibrate(prepare_ptq(model), [torch.randn(16, 1, 8, 8) for _ in range(3)])
    x = torch.randn(32, 1, 8, 8)
    im, diff = convert_and_compare(ptq, x)
    assert diff.max() <= 1
    assert (model(x).argmax(1) == im.predict(x).argmax(1)).float().mean() > 0.5
    qat = trained_qat(create_model("mlp", in_features=64, num_classes=10, depth=2, width=16), (64,),
                      QConfig(lsq=True, per_channel=False))
    assert any(p.requires_grad and p.grad is not None and p.numel() == 1 for p in qat.parameters())  # LSQ scales
    _, diff = convert_and_compare(qat, torch.randn(32, 64))
    assert diff.max() <= 1


def test_int4_weights_and_headroom_warning() -> None:
    torch.manual_seed(6)
    qat = prepare_qat(nn.Sequential(nn.Linear(1024, 8)), QConfig(weight_bits=4))
    qat.train()
    qat(torch.randn(8, 1024))
    with pytest.warns(UserWarning, match="accumulator bound"):
        im = convert(qat)
    w = im.graph.get_submodule("q_0").weight
    assert w.min() >= -7 and w.max() <= 7 and w.abs().max() == 7


def test_size_about_four_times_smaller() -> None:
    model = create_model("mlp", in_features=256, num_classes=10, depth=2, width=256)
    qat = trained_qat(model, (256,))
    im = convert(qat)
    ratio = int_nbytes(model) / int_nbytes(im)
    assert 3.7 < ratio <= 4.0


def test_unsupported_layers_listed_by_name() -> None:
    with pytest.raises(DanluError, match=r"features\.1.*GroupNorm.*features\.5"):
        prepare_qat(create_model("cnn", in_channels=1, num_classes=10, widths=[4, 8], norm="gn"))
    with pytest.raises(DanluError, match="Sigmoid"):
        prepare_qat(create_model("mlp", in_features=8, num_classes=2, activation="sigmoid"))


def test_convert_refuses_unobserved_model() -> None:
    with pytest.raises(DanluError, match="never seen data"):
        convert(prepare_qat(nn.Sequential(nn.Linear(4, 2))))
    with pytest.raises(DanluError, match="prepare_qat"):
        convert(nn.Sequential(nn.Linear(4, 2)))  # type: ignore[arg-type]


def test_float64_gemm_backend_is_exact_and_bounded() -> None:
    from danlu.quant.int_ops import int_conv2d, use_gemm

    g = torch.Generator().manual_seed(7)
    x = torch.randint(-255, 256, (2, 16, 9, 9), generator=g)
    w = torch.randint(-127, 128, (8, 16, 3, 3), generator=g)
    ref = int_conv2d(x, w, (1, 1), (1, 1))
    with use_gemm("float64"):
        assert torch.equal(int_conv2d(x, w, (1, 1), (1, 1)), ref)
        with pytest.raises(DanluError, match="2\\^53"):
            int_conv2d(x * 2**20, w * 2**20, (1, 1), (1, 1))
    with pytest.raises(DanluError, match="backend"), use_gemm("int8"):
        pass


def test_convert_refreshes_weight_ranges_for_inference_folding() -> None:
    """Weights observed in training were folded with batch statistics; convert re-observes them as
    inference folds them (running statistics), so each channel's scale is max|W_fold| / 127."""
    qat = trained_qat(create_model("cnn", in_channels=1, num_classes=10, widths=[4, 8]), (1, 8, 8))
    convert(qat)
    layer = qat.get_submodule("q_features_0")
    w_eval = layer.folded()[0].detach()
    s_w = layer.weight_fq.qparams()[0]
    assert torch.allclose(s_w * 127, w_eval.abs().amax(dim=(1, 2, 3)), rtol=1e-6)
