"""The image recipe's samples follow P* region by region and pixel by pixel, against brute-force enumeration.

A 2×6 image with two subjects of different sizes whose data terms lean opposite ways: P*'s odds of each subject
being all cat / all lion come from all 3¹² labelings, computed here from the unary and β directly. The untrained
flow alone gives odds that are not P*'s (a control: the answer is not built into the model); its finish (the
recipe's Swendsen–Wang and heat-bath sweeps) brings them and the pixel marginals to P*'s.
"""

import itertools

import pytest
import torch

from energies.grid_potts import GridPottsEnergy
from energies.pairwise import PairwiseEnergy
from models import RandomizedFlow
from models.flow.recipes import RECIPES

H, W, C, BETA = 2, 6, 3, 1.5
SUBJECTS = {"A (2×2, leans cat by 1 nat)": ([1, 2], 1.0), "B (2×1, leans lion by 1.5 nats)": ([4], -1.5)}
SAMPLES = 8000
TOLERANCE = 0.03  # ≈ 4 standard errors of a probability near ½ from 8,000 samples


def leaning_image() -> torch.Tensor:
    unary = torch.tensor([0.0, 4.0, 4.0]).expand(H, W, C).clone()  # background, cat, lion
    for cols, lean in SUBJECTS.values():
        k = H * len(cols)
        unary[:, cols] = torch.tensor([3.0, -lean / (2 * k), lean / (2 * k)])  # Σ over the subject: cat − lion = lean
    return unary


def subject_odds(labelings: torch.Tensor, weights: torch.Tensor | None = None) -> list[float]:
    """P(subject all cat), P(subject all lion) for each subject: frequencies, or sums of ``weights``."""
    out = []
    for cols, _ in SUBJECTS.values():
        pixels = torch.tensor([r * W + q for r in range(H) for q in cols])
        for label in (1, 2):
            hit = (labelings[:, pixels] == label).all(1).double()
            out.append(float(hit.mean() if weights is None else (hit * weights).sum()))
    return out


@pytest.fixture(scope="module")
def exact():
    """P* by enumeration, written out from the unary and β (not through the energy's code)."""
    unary = leaning_image()
    states = torch.tensor(list(itertools.product(range(C), repeat=H * W)))
    x = states.view(-1, H, W)
    energy = unary.view(-1, C)[torch.arange(H * W), states].sum(1)
    energy += BETA * ((x[:, :, 1:] != x[:, :, :-1]).sum((1, 2)) + (x[:, 1:] != x[:, :-1]).sum((1, 2)))
    p = torch.softmax(-energy.double(), 0)
    marginals = torch.stack([(p[:, None] * (states == a)).sum(0) for a in range(C)], 1)
    return {"odds": subject_odds(states, p), "marginals": marginals}


@pytest.fixture(scope="module")
def model():
    return RandomizedFlow.from_recipe("image", GridPottsEnergy(leaning_image(), beta=BETA), seed=0)


def test_the_finish_gives_each_subject_p_stars_odds(exact, model):
    g = torch.Generator().manual_seed(1)
    finished = subject_odds(model.sample(SAMPLES, g))
    alone = subject_odds(model.sample(SAMPLES, g, finish=False))
    assert max(abs(a - b) for a, b in zip(finished, exact["odds"])) < TOLERANCE, (finished, exact["odds"])
    assert max(abs(a - b) for a, b in zip(alone, exact["odds"])) > 0.1, (alone, exact["odds"])  # control


def test_the_finished_marginals_are_p_stars(exact, model):
    g = torch.Generator().manual_seed(2)
    tv = 0.5 * (model.marginals(SAMPLES, g).double() - exact["marginals"]).abs().sum(1)
    assert tv.max() < TOLERANCE, tv


def test_the_finish_needs_a_grid_potts_energy_and_heat_bath_two_colours():
    odd_torus = GridPottsEnergy(torch.zeros(3, 5, 3), beta=BETA, periodic=True)  # no checkerboard: 3 and 5 are odd
    with pytest.raises(ValueError, match="finish_round: finish kernel 'hb': .*even number of rows and columns.*; drop 'hb'"):
        RandomizedFlow.from_recipe("image", odd_torus)
    RandomizedFlow.from_recipe("image", odd_torus, finish_round="sw")
    torus = GridPottsEnergy(leaning_image(), beta=BETA, periodic=True)  # 2×6: even sides
    assert "line" not in RandomizedFlow.from_recipe("image", torus).hparams.finish_round.split(",")  # a torus's lines are cycles
    with pytest.raises(ValueError, match="finish_round: finish kernel 'line': .*open grid.*; drop 'line'"):
        RandomizedFlow.from_recipe("image", torus, finish_round="sw,line,hb")
    pairwise = PairwiseEnergy(torch.zeros(3, 3), torch.tensor([[0, 1], [1, 2]]), 1 - torch.eye(3))
    with pytest.raises(ValueError, match=r"finish_round 'sw,hb' needs a grid Potts energy.*set finish_round='none'"):
        RandomizedFlow(3, 3, recipe="ising", finish_round="sw,hb").attach_energy(pairwise)
    with pytest.raises(ValueError, match=r"finish_round: unknown kernel 'gibbs'"):
        RandomizedFlow.from_recipe("image", GridPottsEnergy(leaning_image(), beta=BETA), finish_round="sw,gibbs")
