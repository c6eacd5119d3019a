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


def save_png(image: Tensor, path) -> None:
    """Write ``(h, w, 3)`` float in ``[0, 1]`` as an 8-bit PNG."""
    array = (image.detach().cpu().clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    Image.fromarray(array, "RGB").save(path)
