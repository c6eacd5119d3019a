"""The image source: file → RGB → data term → grid Potts energy (Fig. 1); or a data term of your own from an
array (``unary``), with or without its image."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from data.contrast import check_contrast, check_contrast_floor, contrast_weights
from data.data_term import Labels, check_classes, check_sigma, gaussian_unary, kmeans_labels, parse_label_names, parse_labels
from data.defaults import (DEFAULT_BETA, DEFAULT_CLASSES, DEFAULT_CONTRAST_FLOOR, DEFAULT_IMAGE, DEFAULT_LABELS, DEFAULT_MAX_SIZE,
                           DEFAULT_SIGMA)
from data.energy_datamodule import EnergyDataModule
from data.image_io import MAX_PIXELS, check_max_size, image_from_array, image_size, load_image
from data.unary_array import check_unary_kind, check_unary_scale, load_unary, unary_from_array
from energies.grid_potts import GridPottsEnergy

#: how hyperparameters and messages name an image or data term handed over as an array in memory (``run.posterior``)
IN_MEMORY = "<array>"


class ImageDataModule(EnergyDataModule):
    """Grid Potts energy of an image: Gaussian colour unaries plus ``beta`` per disagreeing neighbour pair.

    Labels come from ``labels`` (``"name=#rrggbb,..."``) or, when ``classes`` is given instead, from
    k-means on the pixel colours; with neither, the bundled image gets its labels (background, cat, lion) and
    any other image ``DEFAULT_CLASSES`` k-means colours of its own.

    With ``unary`` (an ``(H, W, c)`` array of your own network's probabilities, logits or energies, see
    :mod:`data.unary_array`) the array is the data term instead: ``sigma``, ``classes`` and ``max_size`` do not
    apply, nothing is resized, and ``image`` is optional: given, it must be ``H × W`` at its own size and gives the
    ``contrast`` weights and :attr:`image`; without it, :attr:`image` shows each pixel's most likely label's colour.
    Labels are ``labels`` as names (``"road,car,sky"``, each optionally ``=#rrggbb``) or ``class0 …``, with the
    colours of :func:`data.data_term.palette` where none are given.

    ``image`` and ``unary`` may also be numpy arrays in memory (``run.posterior``): checked where a file's contents
    are (:func:`data.image_io.image_from_array`, :func:`data.unary_array.unary_from_array`), held by the module and
    recorded as ``"<array>"`` in its hyperparameters (which take primitives only).

    Args:
        image: path of any image Pillow reads, or an ``(H, W, 3)`` array (default: the bundled ``data/cat_lion.png``).
        labels: label spec, see :func:`data.data_term.parse_labels`.
        classes: number of k-means colours (exclusive with ``labels``).
        sigma: colour noise std of the Gaussian data term, in RGB units of ``[0, 1]``.
        beta: Potts weight per disagreeing 4-neighbour pair.
        max_size: downscale the longer side to at most this many pixels (``None``: keep).
        max_pixels: refuse grids larger than this after downscaling.
        seed: k-means seed.
        steps_per_epoch: see :class:`data.energy_datamodule.EnergyDataModule`.
        unary: ``.npy``/``.npz`` file of the data term, or an ``(H, W, c)`` array (``None``: the image's Gaussian colour model).
        unary_kind: what ``unary`` holds: ``"probabilities"``, ``"logits"`` or ``"energies"``.
        unary_scale: temperature ``T``: the array's unary is divided by it.
        unary_key: the array's name in a ``.npz`` (``None``: its only one).
        contrast: ``σ`` of contrast-sensitive edge weights ``β·max(floor, exp(−‖I_p − I_q‖²/(2σ²)))``, see
            :mod:`data.contrast` (``None``: ``beta`` on every edge).
        contrast_floor: the least fraction of ``beta`` an edge keeps.

    Raises:
        ValueError: one line, for any bad argument or unusable image or array (at :attr:`energy` for the files).
    """

    def __init__(
        self,
        image: str | np.ndarray | None = None,
        labels: str | None = None,
        classes: int | None = None,
        sigma: float = DEFAULT_SIGMA,
        beta: float = DEFAULT_BETA,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_pixels: int | None = MAX_PIXELS,
        seed: int = 0,
        steps_per_epoch: int = 100,
        unary: str | np.ndarray | None = None,
        unary_kind: str = "probabilities",
        unary_scale: float = 1.0,
        unary_key: str | None = None,
        contrast: float | None = None,
        contrast_floor: float = DEFAULT_CONTRAST_FLOOR,
    ) -> None:
        super().__init__(steps_per_epoch)
        self._arrays: dict[str, np.ndarray] = {}  # arrays in memory by argument; the hyperparameters say IN_MEMORY
        if isinstance(unary, np.ndarray):
            self._arrays["unary"], unary = unary, IN_MEMORY
            if unary_key is not None:
                raise ValueError("unary_key names an array in a .npz file; this unary is an array already")
        if isinstance(image, np.ndarray):
            self._arrays["image"], image = image, IN_MEMORY
        if labels is not None and classes is not None:
            raise ValueError("give labels=… or classes=…, not both")
        check_unary_kind(unary_kind)
        check_unary_scale(unary_scale)
        if contrast is not None:
            check_contrast(contrast)
        check_contrast_floor(contrast_floor)
        if unary is not None:
            unary = str(unary)
            if classes is not None:
                raise ValueError("classes fits label colours to an image; with unary the array's last axis is the labels")
            if contrast is not None and image is None:
                raise ValueError("contrast needs an image to take the edge weights from; with unary give an image of the array's size")
            parse_label_names(labels, None)  # names, optionally with colours; their number is checked against the array
            max_size = None  # nothing is resized: the image must match the array at its own size
        # checked here as well as where they are used, so that bad values fail before the image is read
        if classes is not None:
            check_classes(classes)
        check_sigma(sigma)
        if not (float(beta) > 0 and math.isfinite(beta)):
            raise ValueError(f"beta must be a positive finite number, got {beta}")
        check_max_size(max_size)
        if unary is None:
            image = str(DEFAULT_IMAGE if image is None else image)
        elif image is not None:
            image = str(image)
        if labels is None and classes is None and unary is None:
            # the bundled image has its labels; on any other image background/cat/lion would mean nothing
            if Path(image).resolve() == DEFAULT_IMAGE.resolve():
                labels = DEFAULT_LABELS
            else:
                classes = DEFAULT_CLASSES
        self._labels: Labels | None = parse_labels(labels) if labels is not None and unary is None else None
        self.save_hyperparameters()
        self.image_path = image
        self.unary_path = unary
        self._image: torch.Tensor | None = None
        self._unary: torch.Tensor | None = None

    @property
    def unary(self) -> torch.Tensor | None:
        """The data term read from ``unary``, ``(H, W, c)``; ``None`` for an image's Gaussian colour model."""
        if self._unary is None and self.unary_path is not None:
            hp = self.hparams
            if "unary" in self._arrays:
                self._unary = unary_from_array(self._arrays["unary"], hp.unary_kind, hp.unary_scale, IN_MEMORY, hp.max_pixels)
            else:
                self._unary = load_unary(self.unary_path, hp.unary_kind, hp.unary_scale, hp.unary_key, hp.max_pixels)
        return self._unary

    @property
    def image(self) -> torch.Tensor:
        """The (downscaled) RGB image ``(H, W, 3)`` in ``[0, 1]``; with ``unary`` and no image, the colour of each
        pixel's most likely label."""
        if self._image is None:
            if self.image_path is None:
                self._image = self.labels.colours[self.unary.argmin(-1)]
            elif "image" in self._arrays:
                image = image_from_array(self._arrays["image"], self.hparams.max_size, self.hparams.max_pixels, IN_MEMORY)
                if self.unary is not None:  # max_size is None: the image at its own size
                    self._check_size(image.shape[1], image.shape[0])
                self._image = image
            else:
                if self.unary is not None:  # the header's size, before a large image is decoded
                    self._check_size(*image_size(self.image_path))
                self._image = load_image(self.image_path, self.hparams.max_size, self.hparams.max_pixels)
        return self._image

    def _check_size(self, width: int, height: int) -> None:
        """The image of a ``unary`` array must be the array's size (neither is resized)."""
        if (height, width) != tuple(self.unary.shape[:2]):
            raise ValueError(f"unary {self.unary_path} is {_size(self.unary.shape)} but image {self.image_path} is "
                             f"{_size((height, width))}: give an image of the array's size (neither is resized)")

    @property
    def original_size(self) -> tuple[int, int]:
        """``(width, height)`` of the image file, before ``max_size`` shrinks it (the training grid is
        ``energy.grid``, ``(H, W)``); of the array where ``unary`` has no image."""
        if self.image_path is None:
            return self.unary.shape[1], self.unary.shape[0]
        if "image" in self._arrays:
            _ = self.image  # checked first
            return self._arrays["image"].shape[1], self._arrays["image"].shape[0]
        return image_size(self.image_path)

    @property
    def labels(self) -> Labels:
        if self._labels is None:
            if self.unary_path is not None:
                self._labels = parse_label_names(self.hparams.labels, self.unary.shape[-1])
            else:
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
        hp = self.hparams
        if self.unary_path is not None:
            unary = self.unary
            _ = self.labels, self.image  # read now: a count or size other than the array's is bad input, found before training
        else:
            unary = gaussian_unary(self.image, self.labels.colours, hp.sigma)
        if hp.contrast is None:
            return GridPottsEnergy(unary, beta=hp.beta)
        weights_h, weights_v = contrast_weights(self.image, hp.beta, hp.contrast, hp.contrast_floor)
        return GridPottsEnergy(unary, beta=hp.beta, weights_h=weights_h, weights_v=weights_v)

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
            raise ValueError("checkpoint was trained on another energy (other image, unary, sigma, beta or contrast)")

    def state_dict(self) -> dict:
        return {"fingerprint": self.fingerprint()}

    def load_state_dict(self, state_dict: dict) -> None:
        if "fingerprint" in state_dict:
            self.check_fingerprint(state_dict["fingerprint"])


def _size(grid) -> str:
    """``H×W`` of a grid or of a shape ``(H, W, ...)``."""
    return "?" if not grid else f"{grid[0]}×{grid[1]}"
