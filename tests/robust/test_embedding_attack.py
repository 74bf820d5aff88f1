"""Embedding FGM / PGD on a small text classifier: the accumulated gradients equal a hand-written
FGM (Miyato et al.), PGD stays in the ball and raises the loss, the hook never outlives its block."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from danlu.errors import DanluError
from danlu.robust.embedding import EmbeddingAttack, embedding_attack


class TextClassifier(nn.Module):
    """Embedding -> GRU -> last state -> linear: tokens (B, T) -> logits (B, C)."""

    def __init__(self, vocab: int = 30, dim: int = 8, classes: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, 12, batch_first=True)
        self.head = nn.Linear(12, classes)

    def rest(self, e: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(e)[0][:, -1])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.rest(self.embedding(tokens))


@pytest.fixture
def setup():
    torch.manual_seed(0)
    model = TextClassifier()
    g = torch.Generator().manual_seed(1)
    return model, torch.randint(0, 30, (6, 9), generator=g), torch.randint(0, 3, (6,), generator=g)


def test_fgm_gradients_equal_the_hand_written_recipe(setup):
    model, x, y = setup
    attack = EmbeddingAttack(model.embedding, eps=0.5)
    with attack.watch():
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    with attack.perturbed():
        F.cross_entropy(model(x), y).backward()
    ours = [p.grad.clone() for p in model.parameters()]

    # reference: by hand, r = eps * g / ||g||_2 per example on the embedded sequence
    model.zero_grad()
    e = model.embedding(x)
    e.retain_grad()
    F.cross_entropy(model.rest(e), y).backward()
    g = e.grad.detach()
    r = 0.5 * g / g.flatten(1).norm(dim=1).view(-1, 1, 1)
    F.cross_entropy(model.rest(model.embedding(x) + r), y).backward()
    for a, b in zip(ours, [p.grad for p in model.parameters()], strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(attack.last_r, r, atol=1e-7)


def test_the_hook_is_removed_and_weights_untouched(setup):
    model, x, y = setup
    w = model.embedding.weight.detach().clone()
    attack = EmbeddingAttack(model.embedding, eps=1.0)
    with attack.watch():
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    with pytest.raises(RuntimeError, match="boom"), attack.perturbed():
        raise RuntimeError("boom")
    assert not model.embedding._forward_hooks
    assert torch.equal(model.embedding.weight, w)
    with torch.no_grad():
        assert torch.equal(model(x), model.rest(model.embedding(x)))


def test_pgd_stays_in_the_ball_and_beats_the_clean_loss(setup):
    model, x, y = setup
    attack = embedding_attack(model.embedding, 0.8, method="pgd", steps=4)
    with attack.watch():
        clean = F.cross_entropy(model(x), y)
    clean.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    with attack.perturbed(lambda: F.cross_entropy(model(x), y)) as r:
        for p, g in zip(model.parameters(), grads, strict=True):
            assert torch.equal(p.grad, g)  # the inner steps touched no parameter gradient
        adv = F.cross_entropy(model(x), y)
    assert (r.flatten(1).norm(dim=1) <= 0.8 + 1e-5).all()
    assert adv > clean


def test_bad_use_is_explained(setup):
    model, x, y = setup
    attack = EmbeddingAttack(model.embedding, eps=1.0)
    with pytest.raises(DanluError, match="inside attack.watch"), attack.perturbed():
        pass
    with pytest.raises(DanluError, match="eps must be"):
        EmbeddingAttack(model.embedding, eps=-1)
    with pytest.raises(DanluError, match="method must be one of fgm, pgd"):
        embedding_attack(model.embedding, method="freelb")
    pgd = EmbeddingAttack(model.embedding, eps=1.0, steps=3)
    with pgd.watch():
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    with pytest.raises(DanluError, match="needs loss_fn"), pgd.perturbed():
        pass
