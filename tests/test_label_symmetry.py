"""Label-tied flows (``tie_labels``): the model's law is invariant under label swaps of the energy.

The argument has three parts, each tested on its own: (1) the tied Ω's mean and std are invariant under
any simultaneous permutation of input and output channels (its noise is i.i.d. per entry, so its law
is too); (2) the flow is equivariant: permuting the labels of ``S0`` and the channels of Ω permutes
the labels of ``S(T)``; (3) the tied start keeps every label symmetry of its logits. End to end, a
trained tied model gives a symmetric pair of modes equal weight.
"""

import itertools

import pytest
import torch

from conftest import quiet_trainer
from energies.grid_potts import GridPottsEnergy
from models import RandomizedFlow
from models.flow.assignment_flow import integrate_flow
from models.flow.omega_conv import ConvOmega, grouped_conv
from models.flow.start import TiedStart, flow_start
from models.flow.recipes import RECIPES


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Random parameters, as after training (every learned entry different)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


def permute_channels(kernel: torch.Tensor, perm: list[int]) -> torch.Tensor:
    """``(..., c, c, k, k)`` kernels with output and input channels both permuted."""
    return kernel[..., perm, :, :, :][..., perm, :, :]


@pytest.mark.parametrize("tied", [True, False])
def test_tied_omega_law_is_invariant_under_every_label_permutation(tied):
    c = 3
    omega = ConvOmega(c, (4, 5), kernel_size=3, tie_labels=tied)
    randomise(omega)
    mean, std = omega._per_channel(omega.mean), omega.std
    # a tolerance, not torch.equal: vectorised softplus may differ in the last bit between CPUs; the untied
    # control's entries differ by O(1), far above it
    invariant = all(
        torch.allclose(permute_channels(mean, list(p)), mean, rtol=1e-6, atol=1e-7)
        and torch.allclose(permute_channels(std, list(p)), std, rtol=1e-6, atol=1e-7)
        for p in itertools.permutations(range(c))
    )
    assert invariant == tied  # the untied Ω is the negative control: its learned law favours labels
    if tied:
        assert omega.mean.numel() == 2 * 3 * 3


def test_flow_is_equivariant_under_label_permutation():
    # S(T) for (S0 ∘ π, Ω_π) is S(T) for (S0, Ω) with labels permuted: exact, for any kernels
    g = torch.Generator().manual_seed(1)
    m, c, H, W = 5, 4, 4, 6
    log_s0 = torch.randn(m, H * W, c, generator=g, dtype=torch.float64)
    weight = torch.randn(m, c, c, 3, 3, generator=g, dtype=torch.float64)
    perm = [2, 0, 3, 1]
    out = integrate_flow(log_s0, lambda S: grouped_conv(S, weight, (H, W)), 0.3, 3.0)
    out_perm = integrate_flow(log_s0[..., perm], lambda S: grouped_conv(S, permute_channels(weight, perm), (H, W)), 0.3, 3.0)
    torch.testing.assert_close(out_perm, out[..., perm])
    assert not torch.allclose(out[..., perm], out)  # the permutation does change the samples


def test_tied_start_learns_one_scale_and_noise_per_node():
    n, c = 6, 3
    start = TiedStart(n, c, init_std=1.0, noise_std=0.5, generator=torch.Generator().manual_seed(0))
    assert {name for name, _ in start.named_parameters()} == {"scale", "noise_rho"}
    assert start.noise_std.shape == (n, 1)
    logits = torch.randn(n, c)
    logits[:, 2] = logits[:, 1]  # labels 1 and 2 are interchangeable
    with torch.no_grad():
        start.logits.copy_(logits)
        start.scale.copy_(torch.rand(n, 1) + 0.5)
    # with noise off the start keeps the symmetry exactly; the per-node noise std is shared by the labels
    start.noisy = False
    s0 = start(2)
    torch.testing.assert_close(s0[..., 1], s0[..., 2])


def test_tied_low_rank_noise_is_one_label_offset_per_sample_shared_by_the_nodes():
    n, c, m = 5, 3, 4000
    start = TiedStart(n, c, init_std=0.0, noise_rank=1, rank_init=0.7)
    assert start.factor.shape == (n, 1)
    log_s0 = start(m, torch.Generator().manual_seed(0))
    offsets = log_s0 - log_s0.mean(-1, keepdim=True)  # logits up to a per-row constant: 0.7 · (η − mean η)
    torch.testing.assert_close(offsets, offsets[:, :1].expand_as(offsets))  # the same draw at every node
    # η is i.i.d. N(0, 1) per label: centred offsets have variance 0.7² · (1 − 1/c) for every label
    torch.testing.assert_close(offsets[:, 0].var(0), torch.full((c,), 0.49 * (1 - 1 / c)), rtol=0.08, atol=0)


def symmetric_image_energy() -> GridPottsEnergy:
    """4×4: a 2×2 subject whose two labels 1 and 2 cost the same, on background label 0."""
    unary = torch.zeros(4, 4, 3)
    unary[..., 1:] = 3.0  # background pixels prefer label 0
    unary[1:3, 1:3, 0] = 3.0
    unary[1:3, 1:3, 1:] = 0.0
    return GridPottsEnergy(unary, beta=1.5)


def mode_share(model: RandomizedFlow, m: int, seed: int) -> float:
    x = model.sample(m, torch.Generator().manual_seed(seed)).view(m, 4, 4)[:, 1:3, 1:3].reshape(m, 4)
    cat, lion = (x == 1).sum(1), (x == 2).sum(1)
    return float((cat > lion).sum() / ((cat > lion).sum() + (lion > cat).sum()))  # ties count for neither


def test_trained_tied_model_weighs_symmetric_modes_equally():
    import lightning as L

    from data.energy_datamodule import EnergyDataModule

    energy = symmetric_image_energy()

    class Fixed(EnergyDataModule):
        def build_energy(self):
            return energy

    L.seed_everything(0, verbose=False)
    model = RandomizedFlow(
        energy.n, energy.c, grid=energy.grid, omega="conv", samples_per_step=32, lr=0.05, end_time=2.0,
        step_size=0.5, omega_variance=1.0, rounding="argmax", score_function=False, s0_noise=0.0, tie_labels=True,
    )
    model.initialise_start(-energy.unary.view(energy.n, energy.c))
    quiet_trainer(40).fit(model, datamodule=Fixed())
    share = mode_share(model, 8000, seed=3)
    assert abs(share - 0.5) < 0.03  # binomial std at 8000 samples: 0.0056


def test_tie_labels_needs_conv_omega():
    with pytest.raises(ValueError, match="omega='dense' needs a recipe without label tying"):
        RandomizedFlow(4, 2, omega="dense", tie_labels=True)


def test_offset_mean_gets_an_unbiased_score_function_gradient():
    # cost = η_label0 ⇒ d/dμ E[cost] = (1, 0, 0); only the score term carries it (no pathwise gradient)
    start = TiedStart(2, 3, init_std=0.0, noise_rank=1, rank_init=1.0, learn_offset_mean=True)
    log_s0, offset = start.draw(200_000, torch.Generator().manual_seed(0))
    assert torch.autograd.grad(log_s0.sum(), start.offset_mean, allow_unused=True)[0] is None  # no pathwise term
    cost = offset[:, 0, 0]
    ((cost - cost.mean()) * start.offset_log_prob(offset)).mean().backward()
    torch.testing.assert_close(start.offset_mean.grad, torch.tensor([[1.0, 0.0, 0.0]]), atol=0.02, rtol=0)


def test_offset_mean_needs_the_tied_offset():
    for recipe, settings in [("ising", dict(noise_rank=1)), ("image-global", dict(noise_rank=0)), ("image", {})]:
        with pytest.raises(ValueError, match="learn_offset_mean needs"):  # untied; no offset; the region offset
            flow_start(4, 3, RECIPES[recipe].settings.replace(learn_offset_mean=True, **settings))
