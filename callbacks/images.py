"""Every N steps, to TensorBoard: the image beside the map and uncertainty, marginals per label, uncertainty, joint and
pixelwise-independent samples (Fig. 1)."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from callbacks.common import check_every, input_image, label_info
from callbacks.evaluation import evaluated_samples, evaluating, noise, seeded_marginals
from callbacks.periodic import Periodic
from metrics.coherence import pixelwise_samples
from pictures.rendering import auto_scale, colourise, marginals_figure, overview_figure, palette, tile, uncertainty_figure
from metrics.uncertainty import pixel_entropy


class SampleImages(Periodic):
    """Pictures of the model on a grid energy, drawn with the same noise every time (comparable frames).

    Logs ``images/overview`` (the image the data term came from beside the most probable label and the uncertainty;
    with an image), ``images/marginals`` (one greyscale panel per label, titled with its name, and a scale bar),
    ``images/uncertainty`` (the entropy of the marginals per pixel, in nats), ``images/joint_samples``
    (the model's integer samples) and ``images/pixelwise_samples`` (each pixel drawn independently from
    the same marginals: Fig. 1's second row) at step 0, every ``every_n_steps`` steps and at the end.
    Nothing happens for energies without a grid. Rank zero alone draws them: no collectives, so it
    uses no synced metric.

    Args:
        every_n_steps: period in optimizer steps.
        samples: samples per grid (joint and pixelwise each).
        nrow: samples per grid row.
        marginal_samples: flow samples averaged for the marginals (models that take ``m``).
        seed: seed of the fixed noise.

    Attributes:
        logged: one dict per image, ``{"step", "tag", "shape"}``.
        images: the latest image per tag, ``(h, w, 3)`` float in ``[0, 1]``.
    """

    at_start = True
    TAGS = ("images/overview", "images/marginals", "images/uncertainty", "images/joint_samples", "images/pixelwise_samples")

    def __init__(
        self,
        every_n_steps: int = 100,
        samples: int = 16,
        nrow: int = 8,
        marginal_samples: int = 1024,
        seed: int = 0,
    ) -> None:
        super().__init__(every_n_steps)
        self.samples = check_every("samples", samples)
        self.nrow = check_every("nrow", nrow)
        self.marginal_samples = check_every("marginal_samples", marginal_samples)
        self.seed = int(seed)
        self.logged: list[dict] = []
        self.images: dict[str, Tensor] = {}

    def render(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Tensor]:
        """The pictures, ``{tag: (h, w, 3)}``."""
        grid = pl_module.energy.grid
        names, colours = label_info(trainer, pl_module)
        names = names or [str(a) for a in range(pl_module.c)]
        colours = palette(pl_module.c, colours)
        scale = auto_scale(grid)
        with evaluating(pl_module):
            joint = evaluated_samples(pl_module, self.samples)  # the metrics' samples of this step, where they were drawn
            joint = pl_module.sample(self.samples, generator=noise(self.seed, "samples", pl_module.device)) if joint is None else joint[: self.samples]
            marginals = seeded_marginals(pl_module, self.marginal_samples, self.seed)
            pixelwise = pixelwise_samples(marginals, self.samples, noise(self.seed, "pixelwise", "cpu"))
        entropy = pixel_entropy(marginals)
        image = input_image(getattr(trainer, "datamodule", None), grid)
        overview = {} if image is None else {
            "images/overview": overview_figure(image, marginals.argmax(-1), entropy, colours, grid, pl_module.c, scale=scale)}
        return {
            **overview,
            "images/marginals": marginals_figure(marginals, grid, names, scale=scale),
            "images/uncertainty": uncertainty_figure(entropy, grid, pl_module.c, scale=scale),
            "images/joint_samples": tile(colourise(joint, grid, colours), self.nrow, scale=scale),
            "images/pixelwise_samples": tile(colourise(pixelwise, grid, colours), self.nrow, scale=scale),
        }

    def draw(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or pl_module.energy.grid is None:
            return
        step = trainer.global_step
        images = self.render(trainer, pl_module)
        for tag, image in images.items():
            self.images[tag] = image
            for logger in trainer.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image(tag, image.numpy(), step, dataformats="HWC")
            self.logged.append({"step": step, "tag": tag, "shape": tuple(image.shape)})

    act = draw
