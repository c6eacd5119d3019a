"""Local randomness of the image flow: label-symmetric Ω draws (``omega_noise="role"``) and the label offset
drawn per uncertain region (``offset="region"``), so separate regions of an image decide independently."""

import itertools

import pytest
import torch

from energies.grid_potts import GridPottsEnergy
from models import RandomizedFlow
from models.flow.assignment_flow import integrate_flow
from models.flow.start import uncertain_regions
from models.flow.omega_conv import ConvOmega, grouped_conv_channels_first, symmetrize_kernel


def randomised_role_omega(c: int = 3, grid=(4, 5)) -> ConvOmega:
    omega = ConvOmega(c, grid, kernel_size=3, tie_labels=True, noise="role")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in omega.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return omega


def test_every_role_draw_is_symmetric_nonnegative_and_label_symmetric():
    omega = randomised_role_omega(c=4)
    w = omega.draw(16, torch.Generator().manual_seed(1))
    assert (w >= 0).all()
    torch.testing.assert_close(symmetrize_kernel(w), w)  # a self-adjoint operator, draw by draw
    for perm in itertools.permutations(range(4)):
        p = list(perm)
        torch.testing.assert_close(w[:, p][:, :, p], w)  # each draw, not only the law, is label-symmetric
    # the per-entry noise of the old tied Ω is the control: its draws favour some labels
    entry = ConvOmega(4, (4, 5), kernel_size=3, tie_labels=True, noise="entry")
    we = entry.draw(16, torch.Generator().manual_seed(1))
    assert not torch.allclose(we[:, [1, 0, 2, 3]][:, :, [1, 0, 2, 3]], we, atol=1e-3)


def test_depthwise_path_gives_the_flow_of_the_full_convolution():
    # the flow only sees ΩS up to a per-pixel constant over labels (softmax), which is what the depthwise
    # difference kernel drops; compare whole flows, full c→c convolution against the fast path
    omega = randomised_role_omega(c=3, grid=(5, 6)).double()
    g = torch.Generator().manual_seed(2)
    log_s0 = torch.log_softmax(torch.randn(7, 30, 3, generator=g, dtype=torch.float64), -1)
    fast = integrate_flow(log_s0, omega(7, torch.Generator().manual_seed(3)), 0.4, 4.0, layout=omega.layout)
    full_kernels = omega.draw(7, torch.Generator().manual_seed(3))
    full = integrate_flow(log_s0, lambda S: grouped_conv_channels_first(S, full_kernels, (5, 6)), 0.4, 4.0, layout="mcn")
    torch.testing.assert_close(fast, full, rtol=1e-9, atol=1e-9)


def bfs_regions(probs: torch.Tensor, grid, threshold: float) -> list[int]:
    """Reference: breadth-first search over uncertain pixels, each component named by its smallest node."""
    H, W = grid
    uncertain = [float(probs[i].max()) < threshold for i in range(H * W)]
    out = [-1] * (H * W)
    for start in range(H * W):
        if not uncertain[start] or out[start] >= 0:
            continue
        queue, out[start] = [start], start
        while queue:
            i = queue.pop()
            r, q = divmod(i, W)
            for rr, qq in ((r + 1, q), (r - 1, q), (r, q + 1), (r, q - 1)):
                j = rr * W + qq
                if 0 <= rr < H and 0 <= qq < W and uncertain[j] and out[j] < 0:
                    out[j] = start
                    queue.append(j)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_uncertain_regions_match_a_breadth_first_search(seed):
    g = torch.Generator().manual_seed(seed)
    grid = (7, 9)
    sharp = torch.rand(63, generator=g) < 0.55  # a random maze of certain and uncertain pixels
    probs = torch.where(sharp[:, None], torch.tensor([0.95, 0.03, 0.02]), torch.tensor([0.1, 0.45, 0.45]))
    assert uncertain_regions(probs, grid, 0.9).tolist() == bfs_regions(probs, grid, 0.9)


SUBJECTS = ([(0, 0), (1, 0), (0, 1)], [(0, 6), (1, 6), (1, 5)])  # 3 pixels each: a majority is never a tie


def two_subject_energy() -> GridPottsEnergy:
    """2×7 grid: two 3-pixel subjects at the ends (cat and lion equally cheap), background between them."""
    unary = torch.zeros(2, 7, 3)
    unary[..., 1:] = 20.0  # background pixels: cat and lion equally expensive
    for subject in SUBJECTS:
        for r, q in subject:
            unary[r, q] = torch.tensor([20.0, 0.0, 0.0])  # subject pixels: background is expensive
    return GridPottsEnergy(unary, beta=2.0)


def combination(labels: torch.Tensor) -> torch.Tensor:
    """0–3: whether each subject's majority is cat (1) rather than lion (2), as two bits."""
    x = labels.view(-1, 2, 7)
    bits = []
    for subject in SUBJECTS:
        sub = torch.stack([x[:, r, q] for r, q in subject], 1)
        bits.append(((sub == 1).sum(1) > (sub == 2).sum(1)).long())
    return bits[0] + 2 * bits[1]


def exact_combination_law(energy: GridPottsEnergy) -> torch.Tensor:
    states = torch.tensor(list(itertools.product(range(3), repeat=energy.n)))  # 3^14 = 4.8M labelings
    p = torch.softmax(-energy.energy(states).double(), 0)
    return torch.zeros(4, dtype=torch.float64).index_add_(0, combination(states), p)


def model_combination_law(omega_noise: str, offset: str, energy: GridPottsEnergy) -> torch.Tensor:
    torch.manual_seed(0)
    model = RandomizedFlow(
        energy.n, energy.c, grid=energy.grid, omega="conv", tie_labels=True, omega_noise=omega_noise, offset=offset,
        noise_rank=1, noise_rank_init=1.0, rounding="argmax", score_function=False, s0_noise=0.0,
        step_size=0.4, end_time=4.0, omega_variance=1.0,
    ).attach_energy(energy)
    model.initialise_start(-energy.factors()[0])
    samples = model.sample(8000, torch.Generator().manual_seed(4))
    return torch.bincount(combination(samples), minlength=4).double() / len(samples)


def test_far_apart_regions_decide_independently_as_under_exact_enumeration():
    energy = two_subject_energy()
    exact = exact_combination_law(energy)
    torch.testing.assert_close(exact, torch.full((4,), 0.25, dtype=torch.float64), atol=1e-6, rtol=0)  # the instance
    local = model_combination_law("role", "region", energy)
    assert 0.5 * float((local - exact).abs().sum()) < 0.03  # 8000 samples: TV noise ≈ 0.01
    # control: the global offset and per-entry Ω noise tie the two subjects together
    coupled = model_combination_law("entry", "global", energy)
    assert 0.5 * float((coupled - exact).abs().sum()) > 0.15
