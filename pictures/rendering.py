"""Pictures of labelings and marginals as float RGB arrays ``(H, W, 3)`` in ``[0, 1]`` (no maths)."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

# used when the labels have no colours (Ising, or a model without a DataModule)
PALETTE = torch.tensor(
    [[0.12, 0.47, 0.71], [1.0, 0.5, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16], [0.58, 0.4, 0.74],
     [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.5, 0.5, 0.5], [0.74, 0.74, 0.13], [0.09, 0.75, 0.81]]
)


def hex_colour(colour) -> str:
    """``#rrggbb`` of an RGB colour in ``[0, 1]``."""
    return "#" + "".join(f"{int(round(float(v) * 255)):02x}" for v in colour)


def palette(c: int, colours: Tensor | None = None) -> Tensor:
    """``(c, 3)`` colours: the given ones, else a fixed palette (cycled)."""
    if colours is not None:
        return torch.as_tensor(colours, dtype=torch.float32).reshape(c, 3)
    return PALETTE[torch.arange(c) % len(PALETTE)]


def colourise(labels: Tensor, grid: tuple[int, int], colours: Tensor) -> Tensor:
    """Integer labelings ``(m, n)`` → ``(m, H, W, 3)`` images."""
    H, W = grid
    return colours[labels.detach().cpu().long()].reshape(-1, H, W, 3)


def tile(images: Tensor, nrow: int = 8, pad: int = 1, scale: int = 1, fill: float = 1.0) -> Tensor:
    """Images ``(k, H, W, 3)`` → one ``(rows·(H+pad)+pad, …, 3)`` grid, each image upscaled ``scale``×."""
    k, H, W, _ = images.shape
    if scale > 1:
        images = images.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
        H, W = H * scale, W * scale
    ncol = max(1, min(nrow, k))
    nrows = math.ceil(k / ncol)
    out = torch.full((nrows * (H + pad) + pad, ncol * (W + pad) + pad, 3), float(fill))
    for i in range(k):
        r, col = divmod(i, ncol)
        out[pad + r * (H + pad) : pad + r * (H + pad) + H, pad + col * (W + pad) : pad + col * (W + pad) + W] = images[i]
    return out


def marginal_images(marginals: Tensor, grid: tuple[int, int]) -> Tensor:
    """``(n, c)`` marginals → ``(c, H, W, 3)`` greyscale images, one per label (white = 1)."""
    H, W = grid
    m = marginals.detach().cpu().float().T.reshape(-1, H, W, 1)
    return m.expand(-1, H, W, 3).clamp(0, 1)


def auto_scale(grid: tuple[int, int], target: int = 96) -> int:
    """Integer upscale so that a small grid shows at about ``target`` pixels."""
    return max(1, target // max(grid))


def legend(names: list[str], colours: Tensor, swatch: int = 20) -> Tensor:
    """A colour legend: one swatch and name per label, ``(h, w, 3)``."""
    font = ImageFont.load_default()
    width = swatch + 12 + max(8 * len(n) for n in names) + 8
    img = Image.new("RGB", (width, len(names) * (swatch + 6) + 6), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, (name, col) in enumerate(zip(names, colours)):
        y = 6 + i * (swatch + 6)
        rgb = tuple(int(round(float(v) * 255)) for v in col)
        draw.rectangle([6, y, 6 + swatch, y + swatch], fill=rgb, outline=(0, 0, 0))
        draw.text((swatch + 12, y + swatch // 2 - 5), name, fill=(0, 0, 0), font=font)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)


# a perceptually ordered colour ramp (dark violet → teal → yellow), for values that are not probabilities
RAMP = torch.tensor(
    [[0.267, 0.005, 0.329], [0.283, 0.141, 0.458], [0.254, 0.265, 0.530], [0.207, 0.372, 0.553], [0.164, 0.471, 0.558],
     [0.128, 0.567, 0.551], [0.135, 0.659, 0.518], [0.267, 0.749, 0.441], [0.478, 0.821, 0.318], [0.741, 0.873, 0.150],
     [0.993, 0.906, 0.144]]
)


def colour_map(values: Tensor, lo: float, hi: float, ramp: str = "grey") -> Tensor:
    """Values ``(...)`` → colours ``(..., 3)``: ``lo`` → the ramp's start, ``hi`` → its end (clamped).

    ``ramp="grey"``: black → white; ``"colour"``: :data:`RAMP`.
    """
    t = ((values.detach().cpu().float() - lo) / max(hi - lo, 1e-12)).clamp(0, 1)
    if ramp == "grey":
        return t[..., None].expand(*t.shape, 3).clone()
    x = t * (len(RAMP) - 1)
    i = x.floor().long().clamp(max=len(RAMP) - 2)
    w = (x - i)[..., None]
    return RAMP[i] * (1 - w) + RAMP[i + 1] * w


def panel_figure(
    values: Tensor,
    grid: tuple[int, int],
    titles: list[str],
    lo: float,
    hi: float,
    ramp: str = "grey",
    scale: int = 1,
    ticks: list[tuple[float, str]] | None = None,
    unit: str = "",
    ncol: int = 4,
    pictures: Tensor | None = None,
) -> Tensor:
    """Panels of per-node values with a title above each and a colour scale bar, as one ``(h, w, 3)`` image.

    Args:
        values: ``(k, n)`` one row of node values per panel (row-major ``grid`` nodes).
        grid: ``(H, W)``.
        titles: one title per panel (e.g. label names).
        lo, hi: the values at the two ends of the colour scale.
        ramp: see :func:`colour_map`.
        scale: integer upscale of every panel.
        ticks: ``(value, text)`` marks on the scale bar (default: ``lo``, the middle, ``hi``).
        unit: written above the scale bar.
        ncol: panels per row.
        pictures: ``(j, H, W, 3)`` panels already in colour (e.g. the photo), shown first; ``titles`` starts with theirs.
    """
    H, W = grid
    coloured = colour_map(values.reshape(-1, H, W), lo, hi, ramp)
    if pictures is not None:
        coloured = torch.cat([pictures.detach().cpu().float().reshape(-1, H, W, 3).clamp(0, 1), coloured])
    k = coloured.shape[0]
    if len(titles) != k:
        raise ValueError(f"{k} panels but {len(titles)} titles")
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        box = probe.textbbox((0, 0), text, font=font)
        return box[2] - box[0], box[3] - box[1]

    if ticks is None:
        ticks = [(lo, _fmt(lo)), ((lo + hi) / 2, _fmt((lo + hi) / 2)), (hi, _fmt(hi))]
    pw, ph = W * scale, H * scale
    line = max(text_size("Ag")[1], 8) + 6
    col_w = max([pw] + [text_size(t)[0] for t in titles])
    ncol = max(1, min(ncol, k))
    nrows = math.ceil(k / ncol)
    pad, bar_w = 8, 14
    bar_h = max(ph, 60)
    tick_w = max(text_size(t)[0] for _, t in ticks) + 6
    panels_w = pad + ncol * (col_w + pad)
    width = panels_w + max(bar_w + 4 + tick_w, text_size(unit)[0]) + pad
    height = max(pad + nrows * (line + ph + pad), pad + line + bar_h + line)
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if scale > 1:
        coloured = coloured.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    for i in range(k):
        r, col = divmod(i, ncol)
        x, y = pad + col * (col_w + pad), pad + r * (line + ph + pad)
        draw.text((x, y), titles[i], fill=(0, 0, 0), font=font)
        tile_img = Image.fromarray((coloured[i].numpy() * 255 + 0.5).astype(np.uint8), "RGB")
        img.paste(tile_img, (x, y + line))
        draw.rectangle([x - 1, y + line - 1, x + pw, y + line + ph], outline=(0, 0, 0))
    # the scale bar: hi at the top
    bx, by = panels_w, pad + line
    if unit:
        draw.text((bx, pad), unit, fill=(0, 0, 0), font=font)
    ramp_values = torch.linspace(hi, lo, bar_h)[:, None].expand(bar_h, bar_w)
    bar = Image.fromarray((colour_map(ramp_values, lo, hi, ramp).numpy() * 255 + 0.5).astype(np.uint8), "RGB")
    img.paste(bar, (bx, by))
    draw.rectangle([bx - 1, by - 1, bx + bar_w, by + bar_h], outline=(0, 0, 0))
    for value, text in ticks:
        t = (value - lo) / max(hi - lo, 1e-12)
        ty = by + round((1 - t) * (bar_h - 1))
        draw.line([bx + bar_w, ty, bx + bar_w + 3, ty], fill=(0, 0, 0))
        draw.text((bx + bar_w + 5, ty - text_size(text)[1] // 2 - 1), text, fill=(0, 0, 0), font=font)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)


def marginals_figure(marginals: Tensor, grid: tuple[int, int], names: list[str], scale: int = 1) -> Tensor:
    """One panel per label, ``P(x_i = label)`` in grey (white = 1), titled with the label's name."""
    c = marginals.shape[1]
    return panel_figure(marginals.detach().cpu().float().T, grid, [f"P({name})" for name in names[:c]], 0.0, 1.0,
                        "grey", scale, unit="probability")


def uncertainty_figure(entropy: Tensor, grid: tuple[int, int], c: int, scale: int = 1) -> Tensor:
    """The per-pixel entropy of the marginals in nats, on a colour ramp from 0 (certain) to ``log c``."""
    top = math.log(c)
    ticks = [(0.0, "0 certain"), (top / 2, _fmt(top / 2)), (top, f"{top:.2f} = log {c}")]
    return panel_figure(entropy.detach().cpu().float()[None], grid, ["uncertainty: entropy per pixel"], 0.0, top,
                        "colour", scale, ticks=ticks, unit="nats")


def overview_figure(photo: Tensor, labels: Tensor, entropy: Tensor, colours: Tensor, grid: tuple[int, int], c: int,
                    scale: int = 1) -> Tensor:
    """The photo beside the most probable label per pixel and the uncertainty, as one ``(h, w, 3)`` image.

    Args:
        photo: ``(H, W, 3)`` in ``[0, 1]``, the image the data term came from.
        labels: ``(n,)`` the most probable label per pixel (the marginals' argmax).
        entropy: ``(n,)`` the entropy of the marginals per pixel, in nats.
        colours: ``(c, 3)`` the label colours.
    """
    top = math.log(c)
    ticks = [(0.0, "0 certain"), (top / 2, _fmt(top / 2)), (top, f"{top:.2f} = log {c}")]
    pictures = torch.stack([photo.detach().cpu().float().reshape(*grid, 3), colourise(labels.reshape(1, -1), grid, colours)[0]])
    return panel_figure(entropy.detach().cpu().float()[None], grid, ["image", "most probable label", "uncertainty (entropy)"],
                        0.0, top, "colour", scale, ticks=ticks, unit="nats", pictures=pictures)


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != 0 else "0"


def save_png(image: Tensor, path) -> None:
    """Write ``(h, w, 3)`` float in ``[0, 1]`` as an 8-bit PNG."""
    array = (image.detach().cpu().clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    Image.fromarray(array, "RGB").save(path)
