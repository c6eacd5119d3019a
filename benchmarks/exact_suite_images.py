"""A wide, generated suite of exact test images: grid Potts energies small enough for the transfer matrix.

    python benchmarks/exact_suite_images.py [--count 48] [--seed 0] [--photo chelsea|none]

prints every instance (the generated suite, then the four named images of ``benchmarks/exact_images.py``) with
its uncertain pixels and the seconds of :func:`exact_reference`.

Generated instance ``i`` is drawn from its own seed ``seed·1000 + i`` (and, where redrawn, the attempt number), so
a prefix of a suite is a smaller suite. Labels ``c = 2, 3, 4`` in turn; 6–10 rows (6–8 for ``c = 4``: a column of
the transfer matrix has at most ``4^8`` states), 16–40 columns, β uniform in [0.8, 2.5], σ in [0.08, 0.2]; every
third group of three instances has per-edge contrast weights ``w_pq = β·max(exp(−‖I_p − I_q‖²/(2s²)), 0.1)``
(``s²`` the mean over the edges, as GrabCut). The image: random label colours at least 0.45 apart, label 0 the
background, then 2–5 subjects of random :data:`KINDS`, sizes and places (a background pixel between any two,
except a touching pair), make_cat_lion's pixel noise, Gaussian colour unaries (``gaussian_unary``).

A subject is ambiguous: its colour lies between two labels (three for ``three_way``), moved after the noise so
that its data term's total log odds over the subject (``leans``: of ``labels[0]`` over each other label) is a
drawn value, about [−2, 2] nats, exactly; no other label is within 1 nat per pixel of the subject's labels.
An instance is redrawn when P* has fewer than :data:`MIN_UNCERTAIN` uncertain pixels, or when every subject is
decided (some label at marginal > 0.98 on all its pixels: implied by ``P(all a) > 0.98``, so this also rejects
every instance whose subjects all have such a label).
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

from data.data_term import gaussian_unary  # noqa: E402
from data.make_cat_lion import NOISE, NOISE_BASIS  # noqa: E402
from energies.grid_potts import GridPottsEnergy  # noqa: E402
from energies.transfer_matrix import transfer_matrix_inference, transfer_matrix_log_z  # noqa: E402

KINDS = ("blob", "ring", "annulus", "line", "thick_line", "touching", "three_way", "ramp", "halo", "pure_pixels")
MAX_ROWS = {2: 10, 3: 10, 4: 8}  # c^rows ≤ 4^8 states per column
MIN_ROWS, COLS, BETA, SIGMA = 6, (16, 40), (0.8, 2.5), (0.08, 0.2)
LEAN = 2.0  # a two-label subject's total log odds is uniform in [−LEAN, LEAN] nats
MIN_COLOUR_DISTANCE = 0.45  # between label colours, RGB in [0, 1]
MARGIN = 1.0  # nats per pixel by which every other label is worse than a subject's labels
CONTRAST_FLOOR = 0.1  # contrast weights are at least this fraction of β
UNCERTAIN = 0.9  # a pixel is uncertain where P*'s largest marginal is below this
MIN_UNCERTAIN = 10
DECIDED = 0.98
MAX_ATTEMPTS = 100
FORBID = 1e4  # as benchmarks/exact_images.py: e^(−10⁴) underflows to an exact 0 in the transfer matrix


@dataclass(frozen=True)
class Instance:
    """One exact test image: its energy (float32, open grid), ambiguous subjects and how it was drawn."""

    name: str
    energy: GridPottsEnergy
    subjects: list[dict]  # {"name", "kind", "pixels" (row-major node ids), "labels", "leans", ...}
    params: dict  # JSON-able: seed, rows, cols, c, beta, sigma, contrast, kinds, ...


# -- drawing one image ----------------------------------------------------------------------------------
class _Canvas:
    """An RGB image being painted, where subjects may still go, and the lean corrections due after the noise."""

    def __init__(self, rng: np.random.Generator, rows: int, cols: int, colours: np.ndarray, sigma: float) -> None:
        self.rng, self.rows, self.cols, self.colours, self.sigma = rng, rows, cols, colours, sigma
        self.rgb = np.tile(colours[0], (rows, cols, 1))
        self.free = np.ones((rows, cols), dtype=bool)
        self.subjects: list[dict] = []
        self.leans: list[tuple[np.ndarray, list[int], list[float]]] = []  # (pixels, labels, target leans)
        self.pairs, self.triples = _feasible(colours, sigma)

    def spot(self, h: int, w: int) -> tuple[int, int] | None:
        """A random place for an ``h × w`` box with a free pixel (or the border) on every side, claimed."""
        if h > self.rows or w > self.cols:
            return None
        for _ in range(60):
            top, left = int(self.rng.integers(0, self.rows - h + 1)), int(self.rng.integers(0, self.cols - w + 1))
            if self.free[max(top - 1, 0) : top + h + 1, max(left - 1, 0) : left + w + 1].all():
                self.free[top : top + h, left : left + w] = False
                return top, left
        return None

    def ids(self, cells: np.ndarray) -> np.ndarray:
        return cells[:, 0] * self.cols + cells[:, 1]

    def ambiguous(self, cells: np.ndarray, labels: list[int], leans: list[float], kind: str, **extra) -> np.ndarray:
        """Paint ``cells (k, 2)`` with the point equidistant from ``labels``' colours; record the subject."""
        self.rgb[cells[:, 0], cells[:, 1]] = _base_colour(self.colours, labels)
        self.leans.append((cells, labels, leans))
        self.subjects.append({"name": f"s{len(self.subjects)}-{kind}", "kind": kind,
                              "pixels": self.ids(cells).tolist(), "labels": labels, **extra})
        return cells

    def pure(self, cells: np.ndarray, label: int) -> None:
        self.rgb[cells[:, 0], cells[:, 1]] = self.colours[label]

    def pair(self) -> list[int]:
        return [int(v) for v in self.rng.permutation(self.pairs[int(self.rng.integers(len(self.pairs)))])]

    def lean(self) -> list[float]:
        return [float(self.rng.uniform(-LEAN, LEAN))]


def _feasible(colours: np.ndarray, sigma: float) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Label pairs and triples whose equidistant point keeps every other label ``MARGIN`` nats per pixel away
    (a triple's point also within 0.2 of the colours' mean and inside the colour cube)."""
    c = len(colours)
    out: tuple[list, list] = ([], [])
    for size, found in ((2, out[0]), (3, out[1])):
        for labels in itertools.combinations(range(c), size):
            point = _base_colour(colours, list(labels))
            if point is None or not ((point > 0.05) & (point < 0.95)).all():
                continue
            if size == 3 and np.linalg.norm(point - colours[list(labels)].mean(0)) > 0.2:
                continue
            u = ((point - colours) ** 2).sum(1) / (2 * sigma**2)
            others = [e for e in range(c) if e not in labels]
            if all(u[e] - u[labels[0]] >= MARGIN for e in others):
                found.append(labels)
    return out


def _base_colour(colours: np.ndarray, labels: list[int]) -> np.ndarray | None:
    """The point of the labels' plane equidistant from their colours (a pair's midpoint, a triple's circumcentre);
    ``None`` for a degenerate triple."""
    mean = colours[labels].mean(0)
    shift = _shift(mean[None], colours, labels, [0.0] * (len(labels) - 1), 1.0)
    return None if shift is None else mean + shift


def _shift(x: np.ndarray, colours: np.ndarray, labels: list[int], leans: list[float], sigma: float) -> np.ndarray | None:
    """The smallest common shift of the pixels ``x (k, 3)`` that makes their total log odds of ``labels[0]`` over
    each other label equal ``leans``: moving every pixel by δ adds ``k (c_a − c_l)·δ / σ²`` to the log odds of
    ``a`` over ``l``."""
    a = colours[labels[0]]
    D = np.stack([a - colours[l] for l in labels[1:]])  # (j, 3)
    now = np.array([((x - colours[l]) ** 2 - (x - a) ** 2).sum() / (2 * sigma**2) for l in labels[1:]])
    gram = D @ D.T
    if np.linalg.cond(gram) > 1e6:
        return None
    return D.T @ np.linalg.solve(gram, (np.array(leans) - now) * sigma**2 / len(x))


def _leans(x: np.ndarray, colours: np.ndarray, labels: list[int], sigma: float) -> list[float]:
    a = colours[labels[0]]
    return [float(((x - colours[l]) ** 2 - (x - a) ** 2).sum() / (2 * sigma**2)) for l in labels[1:]]


def _blob_cells(rng: np.random.Generator, h: int, w: int, fill: float) -> np.ndarray:
    """A random 4-connected shape grown pixel by pixel inside an ``h × w`` box, ``fill`` of its area (≥ 2)."""
    target = max(2, round(fill * h * w))
    cells = {(int(rng.integers(h)), int(rng.integers(w)))}
    while len(cells) < target:
        r, q = sorted(cells)[int(rng.integers(len(cells)))]
        dr, dq = ((0, 1), (0, -1), (1, 0), (-1, 0))[int(rng.integers(4))]
        if 0 <= r + dr < h and 0 <= q + dq < w:
            cells.add((r + dr, q + dq))
    return np.array(sorted(cells))


def _box(h: int, w: int) -> np.ndarray:
    return np.argwhere(np.ones((h, w), dtype=bool))


def _draw_blob(cv: _Canvas, kind: str) -> bool:
    h, w = int(cv.rng.integers(2, 6)), int(cv.rng.integers(2, 9))
    cells = _blob_cells(cv.rng, h, w, cv.rng.uniform(0.5, 0.9))
    if kind == "pure_pixels" and len(cells) < 6:
        cells = _box(h, max(w, 3)) if h * max(w, 3) >= 6 else _box(2, 3)
    spot = cv.spot(*(cells.max(0) + 1))
    if spot is None:
        return False
    cells = cells + spot
    labels = cv.pair()
    if kind == "pure_pixels":  # a few pixels of one of its labels, pure, inside; the lean is over the others
        k = int(cv.rng.integers(1, 4))
        chosen = cv.rng.choice(len(cells), size=k, replace=False)
        label = labels[int(cv.rng.integers(2))]
        rest = np.delete(cells, chosen, 0)
        cv.ambiguous(rest, labels, cv.lean(), kind)
        cv.subjects[-1].update(pixels=cv.ids(cells).tolist(), pure_pixels=cv.ids(cells[chosen]).tolist(), pure_label=label)
        cv.pure(cells[chosen], label)
    else:
        cv.ambiguous(cells, labels, cv.lean(), kind)
    return True


def _draw_ring(cv: _Canvas, kind: str) -> bool:
    """A 1-pixel (ring) or 2-pixel (annulus) rectangular ring around a pure centre of a random non-background label."""
    t = 1 if kind == "ring" else 2
    h = int(cv.rng.integers(2 * t + 1, min(2 * t + 4, cv.rows) + 1))
    w = int(cv.rng.integers(2 * t + 1, 2 * t + 6))
    spot = cv.spot(h, w)
    if spot is None:
        return False
    box = _box(h, w)
    inside = (box[:, 0] >= t) & (box[:, 0] < h - t) & (box[:, 1] >= t) & (box[:, 1] < w - t)
    centre = int(cv.rng.integers(1, len(cv.colours)))
    cv.pure(box[inside] + spot, centre)
    cv.ambiguous(box[~inside] + spot, cv.pair(), cv.lean(), kind, centre_label=centre)
    return True


def _draw_line(cv: _Canvas, kind: str) -> bool:
    """Horizontal, vertical or diagonal; 1 pixel thick (``line``) or 2 (``thick_line``: a staircase when diagonal)."""
    t = 1 if kind == "line" else 2
    way = ("horizontal", "vertical", "diagonal")[int(cv.rng.integers(3))]
    n = int(cv.rng.integers(3, (cv.rows if way != "horizontal" else 13) + 1 - (t - 1)))
    if way == "horizontal":
        cells = _box(t, n)
    elif way == "vertical":
        cells = _box(n, t)
    else:
        cells = np.array([(k, k + j) for k in range(n) for j in range(t)])
        if cv.rng.integers(2):
            cells[:, 1] = cells[:, 1].max() - cells[:, 1]  # the other diagonal
    spot = cv.spot(*(cells.max(0) + 1))
    if spot is None:
        return False
    cv.ambiguous(cells + spot, cv.pair(), cv.lean(), kind, direction=way)
    return True


def _draw_touching(cv: _Canvas, kind: str) -> bool:
    """Two rectangles sharing a border, each its own pair (the same one half the time) and a lean ≥ 1 nat apart."""
    h, w = int(cv.rng.integers(2, 6)), int(cv.rng.integers(4, 13))
    spot = cv.spot(h, w)
    if spot is None:
        return False
    box = _box(h, w) + spot
    if h >= 2 and cv.rng.integers(2):
        cut = int(cv.rng.integers(1, h))
        first = box[:, 0] < spot[0] + cut
    else:
        cut = int(cv.rng.integers(1, w))
        first = box[:, 1] < spot[1] + cut
    labels = cv.pair()
    lean, other = cv.lean(), cv.lean()
    while abs(other[0] - lean[0]) < 1:
        other = cv.lean()
    cv.ambiguous(box[first], labels, lean, kind)
    cv.ambiguous(box[~first], labels if cv.rng.integers(2) else cv.pair(), other, kind)
    return True


def _draw_three_way(cv: _Canvas, kind: str) -> bool:
    if not cv.triples:
        return False
    h, w = int(cv.rng.integers(2, 6)), int(cv.rng.integers(2, 8))
    cells = _blob_cells(cv.rng, h, w, cv.rng.uniform(0.6, 1.0))
    spot = cv.spot(*(cells.max(0) + 1))
    if spot is None:
        return False
    labels = [int(v) for v in cv.rng.permutation(cv.triples[int(cv.rng.integers(len(cv.triples)))])]
    cv.ambiguous(cells + spot, labels, [float(v) for v in cv.rng.uniform(-LEAN / 2, LEAN / 2, 2)], kind)
    return True


def _draw_ramp(cv: _Canvas, kind: str) -> bool:
    """A rectangle whose colour moves from one label's towards the other's across its columns."""
    h, w = int(cv.rng.integers(2, 6)), int(cv.rng.integers(4, 11))
    spot = cv.spot(h, w)
    if spot is None:
        return False
    cells = _box(h, w) + spot
    labels = cv.pair()
    cv.ambiguous(cells, labels, cv.lean(), kind)
    half = cv.rng.uniform(0.1, 0.3)  # mixing fraction of labels[1] from 0.5 − half to 0.5 + half
    f = 0.5 - half + 2 * half * (cells[:, 1] - spot[1]) / (w - 1)
    a, b = cv.colours[labels[0]], cv.colours[labels[1]]
    cv.rgb[cells[:, 0], cells[:, 1]] = (1 - f)[:, None] * a + f[:, None] * b
    return True


def _draw_halo(cv: _Canvas, kind: str) -> bool:
    """A rectangle or ellipse with a one-pixel ring (8-neighbourhood) half way between its colour and the background."""
    h, w = int(cv.rng.integers(2, 5)), int(cv.rng.integers(2, 7))
    spot = cv.spot(h + 2, w + 2)
    if spot is None:
        return False
    box = _box(h + 2, w + 2)
    u, v = (box[:, 0] - (h + 1) / 2) / (h / 2), (box[:, 1] - (w + 1) / 2) / (w / 2)
    core = (u**2 + v**2 <= 1.2) if cv.rng.integers(2) else ((abs(u) < 1) & (abs(v) < 1))
    inner = box[core & (box[:, 0] > 0) & (box[:, 0] <= h) & (box[:, 1] > 0) & (box[:, 1] <= w)]
    grid = np.zeros((h + 2, w + 2), dtype=bool)
    grid[inner[:, 0], inner[:, 1]] = True
    grown = grid.copy()
    for dr in (-1, 0, 1):
        for dq in (-1, 0, 1):
            grown |= np.roll(np.roll(grid, dr, 0), dq, 1)
    ring = np.argwhere(grown & ~grid) + spot
    labels = cv.pair()
    cv.rgb[ring[:, 0], ring[:, 1]] = (_base_colour(cv.colours, labels) + cv.colours[0]) / 2
    cv.ambiguous(inner + spot, labels, cv.lean(), kind, halo=cv.ids(ring).tolist())
    return True


_DRAW = {"blob": _draw_blob, "pure_pixels": _draw_blob, "ring": _draw_ring, "annulus": _draw_ring, "line": _draw_line,
         "thick_line": _draw_line, "touching": _draw_touching, "three_way": _draw_three_way, "ramp": _draw_ramp,
         "halo": _draw_halo}


def _colours(rng: np.random.Generator, c: int) -> np.ndarray:
    while True:
        colours = rng.uniform(0.1, 0.9, size=(c, 3))
        d = np.linalg.norm(colours[:, None] - colours[None], axis=-1)
        if (d[np.triu_indices(c, 1)] >= MIN_COLOUR_DISTANCE).all():
            return colours


def contrast_weights(rgb: torch.Tensor, beta: float, floor: float = CONTRAST_FLOOR) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``β·max(exp(−‖I_p − I_q‖²/(2s²)), floor)`` on the horizontal ``(H, W−1)`` and vertical ``(H−1, W)`` edges,
    ``s²`` the mean of ``‖I_p − I_q‖²`` over all edges; and ``s``."""
    dh = ((rgb[:, 1:] - rgb[:, :-1]) ** 2).sum(-1)
    dv = ((rgb[1:] - rgb[:-1]) ** 2).sum(-1)
    s2 = float(torch.cat([dh.reshape(-1), dv.reshape(-1)]).mean())
    weight = lambda d: beta * torch.exp(-d / (2 * s2)).clamp_min(floor)  # noqa: E731
    return weight(dh), weight(dv), math.sqrt(s2)


def draw_instance(index: int, seed: int, attempt: int = 0) -> Instance:
    """Generated instance ``index`` of the suite of ``seed`` (see the module docstring), as drawn at ``attempt``."""
    c = 2 + index % 3
    rng = np.random.default_rng([seed * 1000 + index, attempt])
    rows, cols = int(rng.integers(MIN_ROWS, MAX_ROWS[c] + 1)), int(rng.integers(COLS[0], COLS[1] + 1))
    beta, sigma = float(rng.uniform(*BETA)), float(rng.uniform(*SIGMA))
    contrast = (index // 3) % 3 == 2
    cv = _Canvas(rng, rows, cols, _colours(rng, c), sigma)
    while not cv.pairs:
        cv = _Canvas(rng, rows, cols, _colours(rng, c), sigma)
    slots, tries = int(rng.integers(2, 6)), 0
    while len(cv.subjects) < slots and tries < 40:
        tries += 1
        kind = KINDS[int(rng.integers(len(KINDS)))]
        if kind == "touching" and slots - len(cv.subjects) < 2:
            continue
        _DRAW[kind](cv, kind)
    noise = rng.integers(-NOISE, NOISE + 1, size=(rows, cols, 2)) @ NOISE_BASIS / 255
    cv.rgb = np.clip(cv.rgb + noise, 0, 1)
    for (cells, labels, leans), subject in zip(cv.leans, cv.subjects):
        x = cv.rgb[cells[:, 0], cells[:, 1]]
        x = np.clip(x + _shift(x, cv.colours, labels, leans, sigma), 0, 1)
        cv.rgb[cells[:, 0], cells[:, 1]] = x
        subject["leans"] = [round(v, 6) for v in _leans(x, cv.colours, labels, sigma)]
    image = torch.from_numpy(cv.rgb)
    unary = gaussian_unary(image, torch.from_numpy(cv.colours), sigma)
    params = {"seed": seed * 1000 + index, "attempt": attempt, "index": index, "rows": rows, "cols": cols, "c": c,
              "beta": beta, "sigma": sigma, "contrast": contrast, "kinds": [s["kind"] for s in cv.subjects],
              "colours": cv.colours.round(6).tolist(), "background": 0}
    if contrast:
        wh, wv, scale = contrast_weights(image, beta)
        energy = GridPottsEnergy(unary, beta, wh.float(), wv.float())
        params.update(contrast_scale=scale, contrast_floor=CONTRAST_FLOOR)
    else:
        energy = GridPottsEnergy(unary, beta)
    name = f"g{index:02d}-c{c}-{cv.subjects[0]['kind'] if cv.subjects else 'empty'}"
    return Instance(name, energy, cv.subjects, params)


def acceptable(instance: Instance, marginals: torch.Tensor) -> bool:
    """At least :data:`MIN_UNCERTAIN` uncertain pixels and a subject with no label above :data:`DECIDED` on all of
    its pixels (``P(all a) ≤ min_p P(x_p = a)``, so such a subject has every ``P(all a) ≤`` :data:`DECIDED`)."""
    if int((marginals.max(1).values < UNCERTAIN).sum()) < MIN_UNCERTAIN:
        return False
    return any(float(marginals[s["pixels"]].min(0).values.max()) <= DECIDED for s in instance.subjects)


def generate_suite(count: int = 48, seed: int = 0) -> list[Instance]:
    """``count`` generated instances, deterministic from ``seed``; each redrawn until :func:`acceptable`."""
    suite = []
    for index in range(count):
        for attempt in range(MAX_ATTEMPTS):
            instance = draw_instance(index, seed, attempt)
            if acceptable(instance, transfer_matrix_inference(_float64(instance.energy)).marginals):
                break
        else:
            raise RuntimeError(f"instance {index} of seed {seed}: nothing acceptable in {MAX_ATTEMPTS} attempts")
        suite.append(instance)
    return suite


# -- the named images -----------------------------------------------------------------------------------
def named_instances(seed: int = 0, photo: str | None = "chelsea", max_regions: int = 5) -> list[Instance]:
    """``even``, ``lean``, ``soft`` and the ``photo`` strip of ``benchmarks/exact_images.py``, built by its functions;
    the photo's subjects are its largest ``max_regions`` 4-connected regions of uncertain pixels (≥ 2 pixels)."""
    from benchmarks.exact_images import IMAGES, image_energy, photo_strip, synthetic_image
    from data.data_term import parse_labels
    from data.defaults import DEFAULT_BETA, DEFAULT_LABELS, DEFAULT_SIGMA

    labels = parse_labels(DEFAULT_LABELS)
    cat, lion = labels.names.index("cat"), labels.names.index("lion")
    out = []
    for name, (leans, halo) in IMAGES.items():
        image, subjects = synthetic_image(leans, halo, seed)
        kind = "blob" if halo is None else "halo"
        subjects = [{"name": s["name"], "kind": kind, "pixels": s["pixels"], "labels": [cat, lion], "leans": [s["lean"]]}
                    for s in subjects]
        energy = image_energy(image, labels.colours)
        out.append(Instance(name, energy, subjects, _named_params(name, energy, DEFAULT_BETA, DEFAULT_SIGMA, subjects, seed)))
    if photo is not None:
        energy = photo_strip(photo)
        marginals = transfer_matrix_inference(_float64(energy)).marginals
        regions = uncertain_regions(marginals.max(1).values < UNCERTAIN, energy.grid)
        subjects = [{"name": f"region{k}", "kind": "uncertain_region", "pixels": r}
                    for k, r in enumerate(regions[:max_regions])]
        params = _named_params("photo", energy, energy.beta, DEFAULT_SIGMA, subjects, seed)
        out.append(Instance("photo", energy, subjects, {**params, "photo": photo}))
    return out


def _named_params(name: str, energy: GridPottsEnergy, beta: float, sigma: float, subjects: list[dict], seed: int) -> dict:
    rows, cols = energy.grid
    return {"name": name, "seed": seed, "rows": rows, "cols": cols, "c": energy.c, "beta": beta, "sigma": sigma,
            "contrast": False, "kinds": [s["kind"] for s in subjects]}


def uncertain_regions(mask: torch.Tensor, grid: tuple[int, int], min_size: int = 2) -> list[list[int]]:
    """The 4-connected regions of ``mask (n,)`` with at least ``min_size`` pixels, largest first (node ids)."""
    H, W = grid
    todo, regions = set(mask.nonzero()[:, 0].tolist()), []
    while todo:
        stack, region = [todo.pop()], []
        while stack:
            p = stack.pop()
            region.append(p)
            r, q = divmod(p, W)
            for rr, qq in ((r - 1, q), (r + 1, q), (r, q - 1), (r, q + 1)):
                if 0 <= rr < H and 0 <= qq < W and rr * W + qq in todo:
                    todo.remove(rr * W + qq)
                    stack.append(rr * W + qq)
        if len(region) >= min_size:
            regions.append(sorted(region))
    return sorted(regions, key=lambda r: (-len(r), r[0]))


# -- exact reference ------------------------------------------------------------------------------------
def _float64(energy: GridPottsEnergy, unary: torch.Tensor | None = None) -> GridPottsEnergy:
    """A float64 copy with the same per-edge weights (and ``unary`` instead of its own, if given)."""
    unary = energy.unary.double() if unary is None else unary
    return GridPottsEnergy(unary, energy.beta, energy.weights_h.double(), energy.weights_v.double(), dtype=torch.float64)


def exact_reference(instance: Instance, uncertain_below: float = UNCERTAIN) -> dict:
    """Exact ``log_z``, pixel ``marginals (n, c)``, ``uncertain (n,)`` (largest marginal below ``uncertain_below``),
    ``entropy_sum`` (Σ pixel entropies, nats) and ``p_all`` (per subject, per label ``a``: ``P(subject all a) =
    exp(log Z_a − log Z)``, ``Z_a`` with every other label's unary raised by :data:`FORBID` on the subject)."""
    energy = _float64(instance.energy)
    result = transfer_matrix_inference(energy)
    H, W = energy.grid
    c = energy.c
    p_all = []
    for subject in instance.subjects:
        pixels = torch.tensor(subject["pixels"])
        row = []
        for a in range(c):
            unary = energy.unary.clone().view(H * W, c)
            unary[pixels[:, None], torch.tensor([b for b in range(c) if b != a])[None]] += FORBID
            row.append(math.exp(transfer_matrix_log_z(_float64(energy, unary.view(H, W, c))) - result.log_z))
        p_all.append(row)
    m = result.marginals
    entropy = float(-(m * m.clamp_min(1e-300).log()).sum())
    return {"log_z": result.log_z, "marginals": m, "uncertain": m.max(1).values < uncertain_below,
            "entropy_sum": entropy, "p_all": p_all}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photo", default="chelsea", help="bundled photo of the named strip, or 'none'")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    suite = generate_suite(args.count, args.seed)
    generated = time.perf_counter() - start
    named = named_instances(args.seed, None if args.photo == "none" else args.photo)
    print(f"{'name':22s} {'grid':>6s} {'c':>2s} {'β':>5s} {'σ':>5s} {'contrast':>8s} {'unc':>4s} {'max P(all)':>10s} {'s':>5s}  kinds")
    total = 0.0
    for inst in suite + named:
        t = time.perf_counter()
        ref = exact_reference(inst)
        seconds = time.perf_counter() - t
        total += seconds
        p = inst.params
        top = max((max(row) for row in ref["p_all"]), default=float("nan"))
        print(f"{inst.name:22s} {p['rows']:>2d}×{p['cols']:<3d} {p['c']:>2d} {p['beta']:5.2f} {p['sigma']:5.3f} "
              f"{'yes' if p['contrast'] else 'no':>8s} {int(ref['uncertain'].sum()):>4d} {top:10.3f} {seconds:5.2f}  "
              f"{','.join(p['kinds'])}", flush=True)
    kinds = [k for inst in suite for k in inst.params["kinds"]]
    print("kinds: " + ", ".join(f"{k} {kinds.count(k)}" for k in KINDS))
    redrawn = sum(inst.params["attempt"] > 0 for inst in suite)
    print(f"{len(suite)} generated ({redrawn} redrawn) in {generated:.1f} s; exact references of all {len(suite) + len(named)} "
          f"in {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
