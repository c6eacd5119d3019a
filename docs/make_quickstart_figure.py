"""Draws ``docs/images/quickstart.png``, the README's first example: a segmentation's probabilities in, the
most probable label, the uncertainty and joint samples out.

    python docs/make_quickstart_figure.py            # under a minute on 2 CPU cores

**The probabilities.** A real user brings a network's softmax output. To keep the example self-contained, this
script makes a stand-in from the bundled photo ``data/chelsea.png`` (128 × 85, CC0, see ``data/PHOTOS.md``):

1. k-means with ``CLASSES`` colours on the photo's RGB values in ``[0, 1]`` (deterministic: the centres start at
   colour quantiles of the pixels' brightness and take ``KMEANS_ROUNDS`` Lloyd rounds);
2. a *softened* assignment per pixel, ``p_k ∝ exp(−‖x − μ_k‖² / (2 σ²))`` with ``σ = SOFTNESS``: a colour-distance
   softmax, confident inside a colour region and hesitant where two centres are about as far.

The result is an ``(H, W, c)`` array of probabilities whose rows sum to 1, what ``--unary probs.npy`` reads.

**The posterior.** ``run.posterior(unary=probabilities, image=photo, sampler="line")``: chains of line heat-bath
sweeps from uniform random labelings under the grid Potts model (β = 2 per disagreeing neighbour pair, the
default), as ``sample.py --sampler line --unary probs.npy --image data/chelsea.png`` would run them. No model is
trained. The figure shows the photo, the most probable label per pixel (the marginals' argmax), the uncertainty
(the entropy of the marginals per pixel, 0 … log c nats) and two of the joint samples.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a clone without installing

PHOTO = ROOT / "data" / "chelsea.png"
OUT = ROOT / "docs" / "images" / "quickstart.png"
CLASSES = 3  # k-means colours: the stand-in network's classes
KMEANS_ROUNDS = 20
SOFTNESS = 0.12  # σ of the colour-distance softmax, RGB in [0, 1]
SAMPLES = 64  # joint samples drawn (two are shown)
SWEEPS = 100  # line heat-bath sweeps per chain (sample.py's default)
SCALE = 2  # each pixel drawn as SCALE × SCALE in the figure
COLOURS = np.array([[0.12, 0.47, 0.71], [1.0, 0.5, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16]])
# entropy colour ramp (dark violet → teal → yellow), as the run folder's uncertainty.png
RAMP = np.array([[0.267, 0.005, 0.329], [0.254, 0.265, 0.530], [0.164, 0.471, 0.558], [0.135, 0.659, 0.518],
                 [0.478, 0.821, 0.318], [0.993, 0.906, 0.144]])


def probabilities_from_photo(rgb: np.ndarray, classes: int = CLASSES, softness: float = SOFTNESS) -> np.ndarray:
    """A stand-in for a network's softmax: softened k-means on colour, ``(H, W, classes)`` float64 rows summing to 1."""
    x = rgb.reshape(-1, 3)
    order = np.argsort(x.sum(1), kind="stable")
    centres = x[order[((np.arange(classes) + 0.5) / classes * len(x)).astype(int)]].copy()
    for _ in range(KMEANS_ROUNDS):
        nearest = ((x[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        for k in range(classes):
            if (nearest == k).any():
                centres[k] = x[nearest == k].mean(0)
    d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    logits = -d2 / (2 * softness**2)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return p.reshape(*rgb.shape[:2], classes)


def ramp(values: np.ndarray, top: float) -> np.ndarray:
    t = np.clip(values / top, 0, 1) * (len(RAMP) - 1)
    i = np.minimum(np.floor(t).astype(int), len(RAMP) - 2)
    w = (t - i)[..., None]
    return RAMP[i] * (1 - w) + RAMP[i + 1] * w


def figure(panels: list[tuple[str, np.ndarray]], top: float) -> Image.Image:
    """Titled panels side by side, and a scale bar for the entropy panel."""
    font = ImageFont.load_default()
    H, W = panels[0][1].shape[:2]
    ph, pw, pad, line = H * SCALE, W * SCALE, 8, 16
    bar_w = 60
    img = Image.new("RGB", (pad + len(panels) * (pw + pad) + bar_w, pad + line + ph + pad), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, (title, rgb) in enumerate(panels):
        x = pad + i * (pw + pad)
        draw.text((x, pad), title, fill=(0, 0, 0), font=font)
        tile = (np.repeat(np.repeat(rgb, SCALE, 0), SCALE, 1) * 255 + 0.5).astype(np.uint8)
        img.paste(Image.fromarray(tile, "RGB"), (x, pad + line))
    bx, by = pad + len(panels) * (pw + pad), pad + line
    column = (ramp(np.linspace(top, 0, ph)[:, None].repeat(12, 1), top) * 255 + 0.5).astype(np.uint8)
    img.paste(Image.fromarray(column, "RGB"), (bx, by))
    draw.text((bx + 15, by - 4), f"{top:.2f} nats", fill=(0, 0, 0), font=font)
    draw.text((bx + 15, by + ph - 8), "0", fill=(0, 0, 0), font=font)
    return img


def main() -> None:
    from run import posterior

    start = time.perf_counter()
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"), dtype=np.float64) / 255.0
    probabilities = probabilities_from_photo(rgb)
    post = posterior(unary=probabilities, image=str(PHOTO), sampler="line", sweeps=SWEEPS, samples=SAMPLES, seed=0)
    c = probabilities.shape[-1]
    top = math.log(c)
    panels = [
        ("photo", rgb),
        ("most probable label", COLOURS[post.map]),
        ("uncertainty (entropy)", ramp(post.entropy, top)),
        ("joint sample 1", COLOURS[post.samples[0]]),
        ("joint sample 2", COLOURS[post.samples[1]]),
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    figure(panels, top).save(OUT)
    verdict = "passed" if (post.convergence or {}).get("converged") else "did not pass"
    print(f"{OUT.relative_to(ROOT)}: {rgb.shape[1]}×{rgb.shape[0]} px, {c} classes, {len(post.samples)} samples, "
          f"convergence check {verdict}, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
