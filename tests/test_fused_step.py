"""The flow's compiled Euler steps (models/flow/fused_step.py) against the torch loop: outputs and gradients agree to
float32 rounding on open and periodic grids, for kernel sizes 3 and 5, label counts 2–4 and sample counts that are not
a multiple of the C code's vector (padded); where the C code cannot run the torch loop takes the steps."""

from __future__ import annotations

import pytest
import torch

from conftest import gen
from models.flow import fused_step
from models.flow.assignment_flow import integrate_flow
from models.flow.omega_conv import ConvOmega, DepthwiseOmega


def _compiled_or_skip(monkeypatch):
    monkeypatch.setenv("RAF_NATIVE", "1")
    if fused_step.library() is None:
        pytest.skip("the compiled step cannot be built here (no C compiler with OpenMP)")


@pytest.mark.parametrize("H, W, m, c, k, periodic", [(7, 9, 16, 3, 3, False), (8, 6, 5, 4, 3, True), (10, 11, 19, 2, 5, False),
                                                     (9, 9, 32, 3, 5, True), (3, 40, 16, 3, 3, False)])
def test_the_compiled_steps_match_the_torch_loop_and_its_gradients(monkeypatch, H, W, m, c, k, periodic):
    _compiled_or_skip(monkeypatch)
    g = gen(H * W + m)
    log_s0 = torch.randn(m, H * W, c, generator=g, requires_grad=True)
    kernel = torch.randn(m, k, k, generator=g, requires_grad=True)
    weights = torch.randn(m, H * W, c, generator=g)

    def run(native: str):
        monkeypatch.setenv("RAF_NATIVE", native)
        out = integrate_flow(log_s0, DepthwiseOmega(kernel, (H, W), periodic), 0.4, 4.0, "cnm")
        return (out, *torch.autograd.grad((out * weights).sum(), (log_s0, kernel)))

    compiled, torch_loop = run("1"), run("0")
    for a, b in zip(compiled, torch_loop):
        scale = float(b.detach().abs().max())
        assert torch.allclose(a, b, atol=2e-5 * scale, rtol=0), float((a - b).abs().max() / scale)
    # the failing control: another step size is not within that tolerance
    monkeypatch.setenv("RAF_NATIVE", "1")
    other = integrate_flow(log_s0, DepthwiseOmega(kernel, (H, W), periodic), 0.5, 4.0, "cnm")
    assert not torch.allclose(other, torch_loop[0], atol=2e-5 * float(torch_loop[0].detach().abs().max()), rtol=0)


def test_the_steps_run_in_torch_where_the_compiled_code_cannot(monkeypatch):
    z = torch.randn(3, 20, 4)
    monkeypatch.setenv("RAF_NATIVE", "0")
    assert fused_step.euler_steps(z, torch.rand(4, 3, 3), (4, 5), 0.4, 2, False) is None
    monkeypatch.setenv("RAF_NATIVE", "1")
    assert fused_step.euler_steps(z.double(), torch.rand(4, 3, 3).double(), (4, 5), 0.4, 2, False) is None  # float32 only
    # a kernel that wraps round a small torus more than once: the torch loop (which refuses it) decides
    assert fused_step.euler_steps(torch.randn(3, 18, 4), torch.rand(4, 7, 7), (2, 9), 0.4, 1, True) is None


def test_a_role_omega_offers_the_fused_steps_and_an_entry_omega_does_not():
    role = ConvOmega(3, (4, 5), tie_labels=True, noise="role")
    entry = ConvOmega(3, (4, 5))
    assert isinstance(role(2, gen(0)), DepthwiseOmega) and not hasattr(entry(2, gen(0)), "fused_steps")


# -- a training step with S kept samples last ----------------------------------------------------------------------
from energies.base import Energy  # noqa: E402
from energies.grid_potts import GridPottsEnergy  # noqa: E402
from models.flow.entropy import first_argmax, log_component_probs  # noqa: E402
from models.flow.randomized_flow import RandomizedFlow  # noqa: E402


def _image_energy(H: int, W: int, c: int, periodic: bool = False, seed: int = 0) -> GridPottsEnergy:
    g = gen(seed)
    return GridPottsEnergy(torch.randn(H, W, c, generator=g) * 2, beta=1.5, periodic=periodic)


@pytest.mark.parametrize("periodic", [False, True])
def test_the_expected_energy_samples_last_is_the_expected_energy(periodic):
    energy = _image_energy(5, 7, 3, periodic)
    S = torch.softmax(torch.randn(4, 35, 3, generator=gen(1)), -1).requires_grad_()
    expected = energy.expected_energy(S)
    last = energy.expected_energy_samples_last(S.permute(2, 1, 0).contiguous())
    assert torch.allclose(last, expected, rtol=1e-5)
    weights = torch.randn(4, generator=gen(7))  # and its gradient, through the hand-written backward of the pair term
    grad, grad_last = (torch.autograd.grad((e * weights).sum(), S)[0] for e in (expected, last))
    assert torch.allclose(grad_last, grad, atol=1e-5) and grad.abs().max() > 0.1
    # the base class's default (a permute) on the same S
    assert torch.allclose(Energy.expected_energy_samples_last(energy, S.permute(2, 1, 0)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        energy.expected_energy_samples_last(S.detach())
    float64 = GridPottsEnergy(energy.unary.double(), beta=1.5, periodic=periodic, dtype=torch.float64)  # promotes, as (B, n, c)
    last64 = float64.expected_energy_samples_last(S.detach().permute(2, 1, 0).contiguous())
    assert last64.dtype == torch.float64 and torch.allclose(last64, float64.expected_energy(S.detach()), rtol=1e-5)


def test_the_component_probabilities_and_the_argmax_samples_last():
    log_S = torch.log_softmax(torch.randn(6, 20, 3, generator=gen(2)), -1)
    labels = torch.randint(0, 3, (5, 20), generator=gen(3))
    cnm = log_S.permute(2, 1, 0).contiguous()
    assert torch.allclose(log_component_probs(cnm, labels, samples_last=True), log_component_probs(log_S, labels), rtol=1e-5)
    ties = torch.tensor([[1.0, 2.0, 2.0], [0.5, 2.0, 1.0], [1.0, 0.0, 2.0]])  # ties go to the first largest, as argmax's
    assert torch.equal(first_argmax(ties), ties.argmax(0)) and torch.equal(first_argmax(cnm), cnm.argmax(0))


@pytest.mark.parametrize("native", ["0", "1"])
@pytest.mark.parametrize("recipe", ["image", "image-stationary"])
def test_a_training_step_samples_last_has_the_same_loss_and_gradients(monkeypatch, native, recipe):
    """The same draws in either layout: the step's terms and every parameter's gradient agree to float32 rounding, on a
    crop (8 × 10 of 12 × 14) and with the compiled steps or the torch loop."""
    monkeypatch.setenv("RAF_NATIVE", native)
    model = RandomizedFlow.from_recipe(recipe, _image_energy(12, 14, 3), crop=8, samples_per_step=20)
    model.start.logits.copy_(-model.energy.unary.reshape(-1, 3))
    assert model.trains_samples_last() and model.training_window() is not None
    state = model.training_generator().get_state()

    def step(samples_last: bool):
        monkeypatch.setattr(RandomizedFlow, "trains_samples_last", lambda self: samples_last)
        model.training_generator().set_state(state)
        model.zero_grad()
        terms = model.free_energy_terms()
        terms["loss"].backward()
        return terms, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    (last, grads_last), (first, grads_first) = step(True), step(False)
    for key in ("loss", "energy", "entropy", "integrality"):
        assert torch.allclose(last[key], first[key], rtol=1e-5), key
    assert grads_last.keys() == grads_first.keys() and len(grads_first) >= 3
    for name, g in grads_first.items():
        assert torch.allclose(grads_last[name], g, atol=1e-4 * float(g.abs().max()), rtol=0), name


@pytest.mark.parametrize("region", [False, True])
def test_a_start_drawn_samples_last_is_the_same_draw(region):
    from models.flow.start import RegionStart, TiedStart

    start = (RegionStart(30, 3, noise_std=0.3) if region else TiedStart(30, 3, noise_std=0.3, noise_rank=2, rank_init=0.5))
    with torch.no_grad():
        start.logits.copy_(torch.randn(30, 3, generator=gen(4)) * 0.3)
        start.scale.uniform_(0.5, 1.5)
    if region:
        start.set_regions((5, 6))
        assert (start.representative >= 0).any()
    nodes = torch.tensor([0, 3, 4, 7, 12, 13, 20, 29])
    for where in (None, nodes):
        first, _ = start.draw(7, gen(5), where)
        last, _ = start.draw(7, gen(5), where, samples_last=True)
        assert last.shape == first.permute(2, 1, 0).shape
        assert torch.allclose(last, first.permute(2, 1, 0), rtol=1e-6, atol=1e-6)
