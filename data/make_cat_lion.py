"""Draw the bundled default image ``data/cat_lion.png``: an ambiguous cat-or-lion head (Fig. 1).

The subject's colour is exactly midway between the cat and lion label colours, so the Gaussian data
term of a pixel is the same for both labels. The noise cannot favour either: every noise vector is an
integer combination of (2, 1, 2) and (0, 4, 1), both orthogonal to lion − cat = (70, 20, −80), so
``‖x − cat‖² = ‖x − lion‖²`` still holds exactly at every noisy subject pixel. (It is also antithetic
under the left–right mirror of the symmetric silhouette, so it sums to zero over the image.) Swapping
cat and lion on the subject leaves the energy unchanged: the two modes have exactly equal probability.

Usage: ``python data/make_cat_lion.py [--size 24] [--out data/cat_lion.png]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

BACKGROUND = (0x2F, 0x4F, 0x2F)
CAT = (0x8C, 0x8C, 0x8C)
LION = (0xD2, 0xA0, 0x3C)
SUBJECT = tuple((a + b) // 2 for a, b in zip(CAT, LION))  # (175, 150, 100): sums are even, midpoint exact
NOISE = 2  # noise = a·(2, 1, 2) + b·(0, 4, 1), a, b ∈ {−NOISE … NOISE}: up to ±10 levels per channel
NOISE_BASIS = np.array([[2, 1, 2], [0, 4, 1]])  # both orthogonal to LION − CAT


def silhouette(height: int, width: int) -> np.ndarray:
    """Boolean mask of a head with two pointed ears, symmetric about the vertical centre line."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    # pixel centres in [0, 1]², x measured from the centre line so that x and -x mirror exactly
    u = (x + 0.5) / width - 0.5
    v = (y + 0.5) / height
    head = (u / 0.34) ** 2 + ((v - 0.60) / 0.32) ** 2 <= 1.0
    au = np.abs(u)  # ears: triangles with tips at (±0.27, 0.10), bases on the head
    ear = (v >= 0.10) & (v <= 0.45) & (np.abs(au - 0.22) <= (v - 0.10) * 0.42)
    return head | ear


def draw(height: int = 24, width: int = 24, seed: int = 0) -> np.ndarray:
    """``(H, W, 3)`` uint8 image; ``width`` must be even so that every pixel has a distinct mirror."""
    if width % 2:
        raise ValueError("width must be even (antithetic mirror pairs)")
    mask = silhouette(height, width)
    assert (mask == mask[:, ::-1]).all()
    image = np.where(mask[..., None], np.array(SUBJECT), np.array(BACKGROUND)).astype(np.int64)
    rng = np.random.default_rng(seed)
    half = rng.integers(-NOISE, NOISE + 1, size=(height, width // 2, 2)) @ NOISE_BASIS
    noise = np.concatenate([half, -half[:, ::-1]], axis=1)  # noise(r, W-1-col) = -noise(r, col)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--size", type=int, default=24, help="height and width in pixels (even)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "cat_lion.png"), help="output PNG")
    args = parser.parse_args(argv)
    try:
        image = draw(args.size, args.size, args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    Image.fromarray(image, "RGB").save(args.out, optimize=True)
    print(f"wrote {args.out}: {args.size}×{args.size}, subject {int(silhouette(args.size, args.size).sum())} pixels, colour #{''.join(f'{v:02x}' for v in SUBJECT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
