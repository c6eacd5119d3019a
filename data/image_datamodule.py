"""The image source: file → RGB → data term → grid Potts energy (Fig. 1)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch

from data.data_term import Labels, check_classes, check_sigma, gaussian_unary, kmeans_labels, parse_labels
from data.defaults import DEFAULT_BETA, DEFAULT_CLASSES, DEFAULT_IMAGE, DEFAULT_LABELS, DEFAULT_MAX_SIZE, DEFAULT_SIGMA
from data.energy_datamodule import EnergyDataModule
from data.image_io import MAX_PIXELS, check_max_size, image_size, load_image
from energies.grid_potts import GridPottsEnergy



class ImageDataModule(EnergyDataModule):
    """Grid Potts energy of an image: Gaussian colour unaries plus ``beta`` per disagreeing neighbour pair.

    Labels come from ``labels`` (``"name=#rrggbb,..."``) or, when ``classes`` is given instead, from
    k-means on the pixel colours; with neither, the bundled image gets its labels (background, cat, lion) and
    any other image ``DEFAULT_CLASSES`` k-means colours of its own.

    Args:
        image: path of any image Pillow reads (default: the bundled ``data/cat_lion.png``).
        labels: label spec, see :func:`data.data_term.parse_labels`.
        classes: number of k-means colours (exclusive with ``labels``).
        sigma: colour noise std of the Gaussian data term, in RGB units of ``[0, 1]``.
        beta: Potts weight per disagreeing 4-neighbour pair.
        max_size: downscale the longer side to at most this many pixels (``None``: keep).
        max_pixels: refuse grids larger than this after downscaling.
        seed: k-means seed.
        steps_per_epoch: see :class:`data.energy_datamodule.EnergyDataModule`.

    Raises:
        ValueError: one line, for any bad argument or unusable image (at :attr:`energy` for the image).
    """

    def __init__(
        self,
        image: str | None = None,
        labels: str | None = None,
        classes: int | None = None,
        sigma: float = DEFAULT_SIGMA,
        beta: float = DEFAULT_BETA,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_pixels: int | None = MAX_PIXELS,
        seed: int = 0,
        steps_per_epoch: int = 100,
    ) -> None:
        super().__init__(steps_per_epoch)
        if labels is not None and classes is not None:
            raise ValueError("give labels=… or classes=…, not both")
        # checked here as well as where they are used, so that bad values fail before the image is read
        if classes is not None:
            check_classes(classes)
        check_sigma(sigma)
        if not (float(beta) > 0 and math.isfinite(beta)):
            raise ValueError(f"beta must be a positive finite number, got {beta}")
        check_max_size(max_size)
        image = str(DEFAULT_IMAGE if image is None else image)
        if labels is None and classes is None:
            # the bundled image has its labels; on any other image background/cat/lion would mean nothing
            if Path(image).resolve() == DEFAULT_IMAGE.resolve():
                labels = DEFAULT_LABELS
            else:
                classes = DEFAULT_CLASSES
        self._labels: Labels | None = parse_labels(labels) if labels is not None else None
        self.save_hyperparameters()
        self.image_path = image
        self._image: torch.Tensor | None = None

    @property
    def image(self) -> torch.Tensor:
        """The (downscaled) RGB image ``(H, W, 3)`` in ``[0, 1]``."""
        if self._image is None:
            self._image = load_image(self.image_path, self.hparams.max_size, self.hparams.max_pixels)
        return self._image

    @property
    def original_size(self) -> tuple[int, int]:
        """``(width, height)`` of the image file, before ``max_size`` shrinks it (the training grid is
        ``energy.grid``, ``(H, W)``)."""
        return image_size(self.image_path)

    @property
    def labels(self) -> Labels:
        if self._labels is None:
            self._labels = kmeans_labels(self.image, int(self.hparams.classes), self.hparams.seed)
        return self._labels

    @property
    def label_names(self) -> list[str]:
        return list(self.labels.names)

    @property
    def label_colours(self) -> torch.Tensor:
        """``(c, 3)`` RGB in ``[0, 1]``."""
        return self.labels.colours

    def build_energy(self) -> GridPottsEnergy:
        unary = gaussian_unary(self.image, self.labels.colours, self.hparams.sigma)
        return GridPottsEnergy(unary, beta=self.hparams.beta)

    # -- the checkpoint records which energy it was trained on ----------------------------------
    def fingerprint(self) -> dict:
        """Grid, labels and a hash of the energy's parameters: equal iff the same energy."""
        energy = self.energy
        digest = hashlib.sha256()
        for name, buf in sorted(energy.named_buffers()):
            digest.update(name.encode())
            digest.update(buf.detach().cpu().double().contiguous().numpy().round(9).tobytes())
        return {"grid": list(energy.grid), "labels": self.labels.spec(), "energy_sha256": digest.hexdigest()}

    def check_fingerprint(self, saved: dict) -> None:
        """Raise a one-line ``ValueError`` when ``saved`` (from a checkpoint) is another energy."""
        mine = self.fingerprint()
        if saved.get("grid") != mine["grid"]:
            raise ValueError(f"checkpoint was trained on a {_size(saved.get('grid'))} image, this one is {_size(mine['grid'])}")
        if saved.get("labels") != mine["labels"]:
            raise ValueError(f"checkpoint was trained with labels {saved.get('labels')!r}, not {mine['labels']!r}")
        if saved.get("energy_sha256") != mine["energy_sha256"]:
            raise ValueError("checkpoint was trained on another energy (other image, sigma or beta)")

    def state_dict(self) -> dict:
        return {"fingerprint": self.fingerprint()}

    def load_state_dict(self, state_dict: dict) -> None:
        if "fingerprint" in state_dict:
            self.check_fingerprint(state_dict["fingerprint"])


def _size(grid) -> str:
    return "?" if not grid else f"{grid[0]}×{grid[1]}"
