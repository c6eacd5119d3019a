"""The training gradient of the flow with drawn labels is unbiased: checked exactly, by enumeration.

With the draws of Ω and of the S0 noise held fixed, the objective of one step is

    G(θ) = mean_k ⟨S_k, E⟩ + Σ_{x_1..x_m} Π_k T(S_k)(x_k) · mean_k log P̂(x_k),
    log P̂(x) = log (1/m) Σ_j Π_i S_j[i, x_i]                                     (eq. (23))

whose gradient autograd gives directly on a tiny model (m = 2 samples, 2 nodes, 2 labels: 16 label
combinations). Training instead draws the labels and differentiates a surrogate with a score-function term
and a leave-one-out baseline. Its expectation over the label draws, Σ_x P(x) ∇surrogate(x), computed by
enumeration, must equal ∇G exactly (up to float rounding): the estimator is unbiased.
"""

import itertools

import torch

from energies.grid_potts import GridPottsEnergy
from models.flow.randomized_flow import RandomizedFlow

M = 2


def tiny_model() -> RandomizedFlow:
    g = torch.Generator().manual_seed(0)
    energy = GridPottsEnergy(torch.randn(1, 2, 2, generator=g, dtype=torch.float64), beta=0.7, dtype=torch.float64)
    model = RandomizedFlow(2, 2, samples_per_step=M, rounding="draw", score_function=True, s0_noise=0.5, anneal_fraction=0.0, seed=1)
    return model.double().attach_energy(energy)


def fixed_draws() -> torch.Generator:
    return torch.Generator().manual_seed(5)  # the same Ω and S0 noise at every call


def grads(model, loss) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(model.parameters()), allow_unused=True))


def test_drawn_label_gradient_is_unbiased_against_enumeration(monkeypatch):
    model = tiny_model()
    # ∇G by enumeration, written from the formula above
    log_S = model.log_soft_samples(M, fixed_draws())
    S = log_S.exp()
    energy = model.energy.expected_energy(S).mean()
    entropy_term = 0.0
    for xs in itertools.product(itertools.product(range(2), repeat=2), repeat=M):  # (x_1, ..., x_m)
        x = torch.tensor(xs)  # (m, n)
        prob = torch.stack([S[k, torch.arange(2), x[k]].prod() for k in range(M)]).prod()
        comp = torch.stack([torch.stack([S[j, torch.arange(2), x[k]].prod() for j in range(M)]) for k in range(M)])  # [k, j]
        log_p_hat = (comp.mean(1)).log()
        entropy_term = entropy_term + prob * log_p_hat.mean()
    exact = grads(model, energy + entropy_term)

    # E_x[∇ surrogate(x)] with the model's own training code, labels set one combination at a time
    monkeypatch.setattr(model, "training_generator", fixed_draws)
    expected = [torch.zeros_like(p) for p in model.parameters()]
    for xs in itertools.product(itertools.product(range(2), repeat=2), repeat=M):
        x = torch.tensor(xs)
        monkeypatch.setattr(model, "round", lambda S, generator=None, x=x: x)
        prob = float(torch.stack([S[k, torch.arange(2), x[k]].prod() for k in range(M)]).prod())
        for e, g in zip(expected, grads(model, model.free_energy_terms()["loss"])):
            e += prob * (g if g is not None else 0)
    for name, e, g in zip([n for n, _ in model.named_parameters()], expected, exact):
        torch.testing.assert_close(e, g if g is not None else torch.zeros_like(e), rtol=1e-7, atol=1e-10, msg=name)
    assert max(float(g.abs().max()) for g in exact if g is not None) > 1e-3  # the check is not vacuous


def test_without_the_score_function_term_the_gradient_is_biased(monkeypatch):
    # the control: the pathwise part alone misses d/dθ of the label distribution, so the test above can fail
    model = tiny_model()
    model.hparams.score_function = False
    log_S = model.log_soft_samples(M, fixed_draws())
    S = log_S.exp()
    monkeypatch.setattr(model, "training_generator", fixed_draws)
    expected = [torch.zeros_like(p) for p in model.parameters()]
    entropy_term = 0.0
    for xs in itertools.product(itertools.product(range(2), repeat=2), repeat=M):
        x = torch.tensor(xs)
        monkeypatch.setattr(model, "round", lambda S, generator=None, x=x: x)
        prob = torch.stack([S[k, torch.arange(2), x[k]].prod() for k in range(M)]).prod()
        comp = torch.stack([torch.stack([S[j, torch.arange(2), x[k]].prod() for j in range(M)]) for k in range(M)])
        entropy_term = entropy_term + prob * comp.mean(1).log().mean()
        for e, g in zip(expected, grads(model, model.free_energy_terms()["loss"])):
            e += float(prob) * (g if g is not None else 0)
    exact = grads(model, model.energy.expected_energy(S).mean() + entropy_term)
    gap = max(float((e - (g if g is not None else 0)).abs().max()) for e, g in zip(expected, exact))
    assert gap > 1e-4
