"""The one place an image becomes a data term: label colours and the Gaussian colour model.

Unary of label ``a`` at pixel ``p``: ``‖x_p − colour_a‖² / (2σ²)`` with ``x_p`` in RGB ``[0, 1]``.
Label colours come from ``--labels "name=#rrggbb,..."`` or, with ``--classes K``, from k-means. A data term given
as an array (``--unary``, :mod:`data.unary_array`) has its labels named by ``--labels "name,..."``, its colours
from :data:`PALETTE` where none are given.
"""

from __future__ import annotations

import colorsys
import math
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from data.defaults import DEFAULT_LABELS


_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]*$")
_HEX = re.compile(r"^#?([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")


@dataclass(frozen=True)
class Labels:
    """Label names and their RGB colours ``(c, 3)`` in ``[0, 1]``."""

    names: tuple[str, ...]
    colours: Tensor

    def __post_init__(self) -> None:
        if len(self.names) != len(self.colours):
            raise ValueError(f"{len(self.names)} label names but {len(self.colours)} colours")

    @property
    def c(self) -> int:
        return len(self.names)

    def hex(self) -> list[str]:
        return [to_hex(col) for col in self.colours]

    def spec(self) -> str:
        """The ``--labels`` string that reproduces these labels."""
        return ",".join(f"{name}={h}" for name, h in zip(self.names, self.hex()))


def parse_hex(text: str) -> Tensor:
    """``#rrggbb`` (or ``#rgb``, ``#`` optional) → ``(3,)`` float in ``[0, 1]``."""
    match = _HEX.match(text.strip())
    if not match:
        raise ValueError(f"bad colour {text.strip()!r}: expected #rrggbb")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return torch.tensor([int(digits[i : i + 2], 16) for i in (0, 2, 4)], dtype=torch.float32) / 255.0


def to_hex(colour: Tensor) -> str:
    rgb = (colour.clamp(0, 1) * 255).round().to(torch.int64).tolist()
    return "#" + "".join(f"{v:02x}" for v in rgb)


def parse_labels(spec: str) -> Labels:
    """Parse ``"name=#rrggbb,name=#rrggbb,..."``.

    Raises:
        ValueError: one line, for an entry without ``=``, an empty or odd name, a bad hex colour,
            a duplicate name, or fewer than 2 labels.
    """
    if spec is None or not str(spec).strip():
        raise ValueError(f'labels is empty: expected e.g. "{DEFAULT_LABELS}"')
    names, colours = _entries(spec, need_colour=True)
    return Labels(names, torch.stack(colours))


def parse_label_names(spec: str | None, c: int | None) -> Labels | None:
    """Labels of ``c`` given unaries (an array has no colours to fit): ``"name,..."``, each entry optionally
    ``name=#rrggbb``; an entry without a colour takes its place's colour of :func:`palette`. ``None``: ``class0 …
    class{c-1}``. ``c=None`` checks the spec only.

    Raises:
        ValueError: one line, for what :func:`parse_labels` refuses, or a count other than ``c``.
    """
    if spec is None:
        return None if c is None else Labels(tuple(f"class{a}" for a in range(c)), palette(c))
    if not str(spec).strip():
        raise ValueError('labels is empty: expected names, e.g. "road,car,sky"')
    names, colours = _entries(spec, need_colour=False)
    if c is None:
        return None
    if len(names) != c:
        raise ValueError(f"labels gives {len(names)} names but the unary array has {c} labels (its last axis)")
    fallback = palette(c)
    return Labels(names, torch.stack([fallback[a] if col is None else col for a, col in enumerate(colours)]))


#: label colours where none are given: matplotlib's tab10, then evenly spaced hues (:func:`palette`)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def palette(c: int) -> Tensor:
    """``c`` distinct colours ``(c, 3)``: :data:`PALETTE`'s, then hues around the colour wheel for labels past its 10."""
    colours = [parse_hex(h) for h in PALETTE[:c]]
    for k in range(c - len(colours)):
        hue = (k * 0.618034) % 1.0  # golden-ratio steps: neighbours in the list far apart in hue
        colours.append(torch.tensor(colorsys.hsv_to_rgb(hue, 0.55, 0.8), dtype=torch.float32))
    return torch.stack(colours)


def _entries(spec: str, need_colour: bool) -> tuple[tuple[str, ...], list[Tensor | None]]:
    """Names and colours (``None`` where an entry has none and ``need_colour`` is false) of a labels spec."""
    names, colours = [], []
    for entry in str(spec).split(","):
        entry = entry.strip()
        if not entry:
            raise ValueError(f"labels {spec!r} has an empty entry")
        if "=" not in entry and need_colour:
            raise ValueError(f"labels entry {entry!r} is not name=#rrggbb")
        name, colour = (part.strip() for part in entry.split("=", 1)) if "=" in entry else (entry, None)
        if not name or not _NAME.match(name):
            raise ValueError(f"labels entry {entry!r}: label names use letters, digits, '_', '-', '.', spaces")
        if name in names:
            raise ValueError(f"labels names label {name!r} twice")
        try:
            colours.append(None if colour is None else parse_hex(colour))
        except ValueError as err:
            raise ValueError(f"labels entry {entry!r}: {err}") from None
        names.append(name)
    if len(names) < 2:
        raise ValueError(f"labels needs at least 2 labels, got {len(names)}")
    return tuple(names), colours


def check_sigma(sigma: float) -> float:
    """The colour std of the data term: a positive finite number."""
    if not (float(sigma) > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a positive finite number, got {sigma}")
    return float(sigma)


def check_classes(k: int) -> int:
    """The number of k-means colours: an integer ≥ 2."""
    if isinstance(k, bool) or int(k) != k or k < 2:
        raise ValueError(f"classes must be an integer ≥ 2, got {k}")
    return int(k)


def gaussian_unary(image: Tensor, colours: Tensor, sigma: float) -> Tensor:
    """Unary potentials ``‖x − colour‖² / (2σ²)``: ``(H, W, 3), (c, 3) → (H, W, c)``."""
    sigma = check_sigma(sigma)
    diff = image[:, :, None, :].double() - colours.to(image.device)[None, None].double()
    return ((diff**2).sum(-1) / (2 * float(sigma) ** 2)).to(torch.get_default_dtype())


def kmeans_colours(image: Tensor, k: int, seed: int = 0, iterations: int = 50, max_points: int = 20000) -> Tensor:
    """``k`` colours ``(k, 3)`` fitted to the pixels by k-means (k-means++ start), sorted by brightness.

    Raises:
        ValueError: when ``k < 2`` or the image has fewer than ``k`` distinct colours.
    """
    k = check_classes(k)
    x = image.reshape(-1, 3).double()
    distinct = torch.unique(x, dim=0)
    if len(distinct) < k:
        raise ValueError(
            f"classes={k} needs an image with at least {k} distinct colours, this one has {len(distinct)}; "
            "use fewer classes or give labels"
        )
    g = torch.Generator().manual_seed(int(seed))
    if len(x) > max_points:  # a subsample fits the colours as well and keeps big images fast
        x = x[torch.randperm(len(x), generator=g)[:max_points]]
        if len(torch.unique(x, dim=0)) < k:
            x = distinct
    # k-means++: each next centre drawn with probability ∝ squared distance to the nearest centre
    centres = x[torch.randint(len(x), (1,), generator=g)]
    for _ in range(1, k):
        d2 = torch.cdist(x, centres).pow(2).min(1).values
        centres = torch.cat([centres, x[torch.multinomial(d2 / d2.sum(), 1, generator=g)]])
    for _ in range(iterations):
        assign = torch.cdist(x, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        new = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)  # empty: keep
        if torch.allclose(new, centres, atol=1e-7):
            break
        centres = new
    brightness = centres @ torch.tensor([0.299, 0.587, 0.114], dtype=centres.dtype)
    return centres[brightness.argsort()].float()


def kmeans_labels(image: Tensor, k: int, seed: int = 0) -> Labels:
    """Labels ``class0 … class{k-1}`` (dark to bright) with k-means colours."""
    colours = kmeans_colours(image, k, seed)
    return Labels(tuple(f"class{i}" for i in range(k)), colours)
