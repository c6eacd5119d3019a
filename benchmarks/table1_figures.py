"""The paper's Fig. 2 (mean-field samples above flow samples) and Fig. 3 (marginals exact / flow /
mean field) for the Table 1 instance, drawn with the rendering helpers of pictures/rendering.py."""

from __future__ import annotations

from pathlib import Path

import torch

from pictures.rendering import colourise, marginal_images, palette, save_png, tile

SCALE = 12  # a 3×8 grid drawn at 36×96 pixels


def write_figures(folder: Path, exact, models: dict, grid: tuple[int, int], count: int = 8) -> list[Path]:
    """Write ``fig2_samples.png`` (rows in the order of ``models``) and ``fig3_marginals.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    colours = palette(2)
    generator = torch.Generator().manual_seed(0)
    rows = [colourise(model.sample(count, generator=generator), grid, colours) for model in models.values()]
    fig2 = folder / "fig2_samples.png"
    save_png(tile(torch.cat(rows), nrow=count, pad=2, scale=SCALE), fig2)

    # P(label 1) per node as in the paper's Fig. 3: exact, flow, mean field (white = 1)
    order = [models[k] for k in ("flow", "meanfield") if k in models]
    marginals = [exact.marginals] + [model.marginals(generator=generator) for model in order]
    panels = torch.stack([marginal_images(m.float(), grid)[1] for m in marginals])
    fig3 = folder / "fig3_marginals.png"
    save_png(tile(panels, nrow=len(panels), pad=2, scale=SCALE), fig3)
    return [fig2, fig3]
