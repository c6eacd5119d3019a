"""The generated suite of exact test images: deterministic, in its ranges, every kind present, and exact references
that agree with brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from benchmarks.exact_suite_images import (KINDS, MAX_ROWS, Instance, exact_reference, generate_suite, named_instances,
                                           uncertain_regions)
from energies.grid_potts import GridPottsEnergy


@pytest.fixture(scope="module")
def suite() -> list[Instance]:
    return generate_suite()


def same(a: Instance, b: Instance) -> bool:
    return (a.name == b.name and a.subjects == b.subjects and a.params == b.params
            and all(torch.equal(getattr(a.energy, k), getattr(b.energy, k)) for k in ("unary", "weights_h", "weights_v")))


def test_suite_is_deterministic_and_a_prefix_is_a_smaller_suite(suite):
    again = generate_suite(3, seed=0)
    assert all(same(a, b) for a, b in zip(again, suite))
    other = generate_suite(3, seed=1)
    assert not any(same(a, b) for a, b in zip(other, suite))


def test_suite_ranges(suite):
    assert len(suite) >= 40
    for inst in suite:
        p, e = inst.params, inst.energy
        H, W = e.grid
        assert (H, W, e.c) == (p["rows"], p["cols"], p["c"]) and e.unary.dtype == torch.float32 and not e.periodic
        assert 6 <= H <= MAX_ROWS[e.c] and 16 <= W <= 40 and e.c ** H <= 4**8
        assert 0.8 <= p["beta"] <= 2.5 and 0.08 <= p["sigma"] <= 0.2
        if p["contrast"]:
            weights = torch.cat([e.weights_h.reshape(-1), e.weights_v.reshape(-1)])
            assert (weights <= p["beta"] + 1e-5).all() and (weights >= 0.1 * p["beta"] - 1e-5).all()
            assert weights.min() < 0.5 * p["beta"]  # some edges cross a colour boundary
        else:
            assert (e.weights_h == e.beta).all() and (e.weights_v == e.beta).all()
    counts = {c: sum(inst.energy.c == c for inst in suite) for c in (2, 3, 4)}
    assert min(counts.values()) >= len(suite) // 4
    assert len(suite) // 5 <= sum(inst.params["contrast"] for inst in suite) <= len(suite) // 2
    kinds = [s["kind"] for inst in suite for s in inst.subjects]
    assert all(kinds.count(k) >= 5 for k in KINDS), {k: kinds.count(k) for k in KINDS}
    assert len({inst.name for inst in suite}) == len(suite)


def test_subjects_are_in_range_and_disjoint(suite):
    for inst in suite:
        n, c = inst.energy.n, inst.energy.c
        assert 2 <= len(inst.subjects) <= 5
        seen: set[int] = set()
        for s in inst.subjects:
            pixels = set(s["pixels"])
            assert pixels and len(pixels) == len(s["pixels"]) and all(0 <= p < n for p in pixels)
            assert not pixels & seen
            seen |= pixels
            assert len(set(s["labels"])) == len(s["labels"]) == (3 if s["kind"] == "three_way" else 2)
            assert all(0 <= a < c for a in s["labels"]) and len(s["leans"]) == len(s["labels"]) - 1
            assert all(abs(v) <= 2.01 for v in s["leans"])  # set exactly after the noise (unless clipped)


def brute_force(energy: GridPottsEnergy, subjects: list[dict]) -> tuple[float, torch.Tensor, list[list[float]]]:
    """log Z, marginals and every subject's P(all a) by enumerating all labelings."""
    states = torch.tensor(list(itertools.product(range(energy.c), repeat=energy.n)))
    logp = -energy.energy(states)
    log_z = torch.logsumexp(logp, 0)
    p = torch.exp(logp - log_z)
    marginals = torch.stack([torch.bincount(states[:, i], p, energy.c) for i in range(energy.n)])
    p_all = [[float(p[(states[:, s["pixels"]] == a).all(1)].sum()) for a in range(energy.c)] for s in subjects]
    return float(log_z), marginals, p_all


@pytest.mark.parametrize("c, height, width", [(2, 2, 6), (3, 3, 4)])
def test_exact_reference_agrees_with_enumeration_on_a_window(suite, c, height, width):
    """A window of a contrast-weighted instance around its first subject: its own energy, the subject's pixels in it."""
    inst = next(i for i in suite if i.energy.c == c and i.params["contrast"])
    H, W = inst.energy.grid
    rows, cols = zip(*(divmod(p, W) for p in inst.subjects[0]["pixels"]))
    top, left = min(max(rows) - height + 1, H - height), min(max(cols) - width + 1, W - width)
    top, left = max(top, 0), max(left, 0)
    window = inst.energy.crop(top, left, height, width)
    inside = [(r - top) * width + (q - left) for r, q in zip(rows, cols) if top <= r < top + height and left <= q < left + width]
    assert inside
    subjects = [{"name": "part", "kind": "blob", "pixels": inside}]
    ref = exact_reference(Instance("window", window, subjects, {}))
    e64 = GridPottsEnergy(window.unary.double(), window.beta, window.weights_h.double(), window.weights_v.double(),
                          dtype=torch.float64)
    log_z, marginals, p_all = brute_force(e64, subjects)
    assert ref["log_z"] == pytest.approx(log_z, abs=1e-9)
    assert torch.allclose(ref["marginals"], marginals, atol=1e-9)
    assert ref["p_all"] == [pytest.approx(row, abs=1e-9) for row in p_all]
    assert torch.allclose(ref["marginals"].sum(1), torch.ones(height * width, dtype=torch.float64))


def test_exact_reference_of_a_generated_instance(suite):
    inst = suite[1]
    ref = exact_reference(inst)
    n, c = inst.energy.n, inst.energy.c
    assert ref["marginals"].shape == (n, c) and ref["marginals"].dtype == torch.float64
    assert torch.allclose(ref["marginals"].sum(1), torch.ones(n, dtype=torch.float64))
    assert torch.equal(ref["uncertain"], ref["marginals"].max(1).values < 0.9) and int(ref["uncertain"].sum()) >= 10
    assert 0 < ref["entropy_sum"] <= n * math.log(c) and math.isfinite(ref["log_z"])
    assert len(ref["p_all"]) == len(inst.subjects) and all(len(row) == c and 0 <= sum(row) <= 1 + 1e-9 for row in ref["p_all"])
    # P(all a) ≤ the smallest marginal of a over the subject
    for s, row in zip(inst.subjects, ref["p_all"]):
        assert all(row[a] <= float(ref["marginals"][s["pixels"], a].min()) + 1e-9 for a in range(c))
    assert any(max(row) <= 0.98 for row in ref["p_all"])


def test_named_instances_are_the_exact_images():
    named = named_instances(photo=None)
    assert [i.name for i in named] == ["even", "lean", "soft"]
    assert [s["kind"] for s in named[2].subjects] == ["halo"] * 4
    even = exact_reference(named[0])
    for row in even["p_all"]:  # cat and lion equally likely: the data term cannot tell them apart on a subject
        assert row[1] == pytest.approx(row[2], abs=1e-4) and row[1] > 0.2


def test_uncertain_regions():
    mask = torch.tensor([1, 1, 0, 1,
                         0, 0, 0, 1,
                         1, 0, 1, 1], dtype=torch.bool)
    assert uncertain_regions(mask, (3, 4)) == [[3, 7, 10, 11], [0, 1]]
