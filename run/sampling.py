"""``sample(config) -> summary``: draw samples from a trained model, on its own image or a new one, or from a
Markov chain that needs no training; what ``sample.py`` and the benchmarks call (:func:`sample_many`: several images,
a folder each; :func:`run.posterior`: the same samples as arrays, no files).

A flow with a stationary start (the ``image-stationary`` recipe) holds nothing that belongs to a pixel: on a new image it
is rebuilt for that image's grid, its start logits are the new data term, and its learned tensors (the Ω
kernels' means and stds, the start's functions of the start entropy) are loaded from the checkpoint. The new
image's labels follow the checkpoint: the same colours where it was trained with given labels, as many k-means
colours of the new image where it was trained with k-means colours, and what ``train.py`` would give the new
image where it was trained on the bundled image's labels (``labels``/``classes`` override). A new data term of your
own (``unary``, with or without its ``image``) keeps the checkpoint's label names, kind, scale, ``beta`` and contrast
unless given.
"""

from __future__ import annotations

import glob
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import lightning as L
import numpy as np
import torch

from callbacks.common import input_image
from run.threads import use_threads
from callbacks.summary import RunSummary
from data import ImageDataModule, IsingDataModule
from data.defaults import DEFAULT_LABELS, UNARY_KINDS
from models.baselines.chains import RandomStartChains
from models.baselines.mean_field import MeanField
from models.flow.randomized_flow import RandomizedFlow
from models.finish import DEFAULT_CAP
from models.kernels import KERNELS, parse_schedule
from models.baselines.van import VAN
from run import console
from run.build import owned_by, resolve_image
from run.config import parse_finish
from run.errors import UsageError
from run.resume import read_checkpoint

#: the chains' names before the kernels had one registry
RENAMED = {"swendsen-wang": "sw", "heat-bath": "hb"}
#: the model's parameters that belong to one image: rebuilt from the new image, never loaded
PER_IMAGE = ("start.logits", "start.representative")
#: flow settings newer than some checkpoints, with the value a checkpoint that lacks them was trained with
INTRODUCED = {"stationary": False, "crop": 0, "finish_rounds": 1, "finish_cap": DEFAULT_CAP}


@dataclass(frozen=True)
class SampleConfig:
    """One ``sample.py`` call; each field is the option of that name (``None``: not given).

    Attributes:
        checkpoint: a ``train.py`` checkpoint (needed by ``sampler="flow"``).
        image: sample this image instead of the checkpoint's (``sampler="flow"``: a stationary flow only); an array in
            memory also (:func:`run.posterior`; :class:`data.ImageDataModule` checks it).
        labels, classes, sigma, beta, max_size: the new image's data term (default: the checkpoint's).
        unary, unary_kind, unary_scale, unary_key: a data term of your own instead of the image's colour model
            (:class:`data.ImageDataModule`; ``image`` is then optional; a file or an array in memory); kind and scale
            default to the checkpoint's.
        contrast, contrast_floor: edge weights that follow the image (default: the checkpoint's).
        samples: samples drawn, saved and scored.
        out: the folder for the results (default: ``samples/<image name>`` next to the checkpoint's run, or
            under the current folder without a checkpoint).
        sampler: ``"flow"`` (the trained model with its finish), or chains from uniform random labelings: a kernel
            (``models/kernels/``: ``"sw"``, Swendsen–Wang with the data term; ``"line"``, line heat bath on open grids;
            ``"hb"``, heat bath) or a schedule of them (``"sw,hb"``).
        sweeps: how many times the chains run their schedule (``sampler`` other than ``"flow"``).
        finish: the flow's finish, as ``train.py --finish`` (:func:`run.config.parse_finish`; default: the checkpoint's).
        seed: seeds the samples.
        device: ``"cpu"``, ``"cuda"``, … (default: the CPU).
    """

    checkpoint: str | Path | None = None
    image: str | Path | None = None
    labels: str | None = None
    classes: int | None = None
    sigma: float | None = None
    beta: float | None = None
    max_size: int | None = None
    unary: str | Path | None = None
    unary_kind: str | None = None
    unary_scale: float | None = None
    unary_key: str | None = None
    contrast: float | None = None
    contrast_floor: float | None = None
    samples: int = 256
    out: str | Path | None = None
    sampler: str = "flow"
    sweeps: int = 100
    finish: str | int | None = None
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise UsageError(lambda n: f"{n('threads')} must be ≥ 1, got {self.threads}")
        if self.sampler != "flow":
            given = str(self.sampler)
            if given in RENAMED:
                raise UsageError(lambda n: f"{n('sampler')} {given} is now called {RENAMED[given]} (the kernels' names: "
                                 f"{', '.join(KERNELS)})")
            try:
                schedule = ",".join(parse_schedule(given))
            except ValueError:
                schedule = ""
            if not schedule:
                raise UsageError(lambda n: f"{n('sampler')} must be flow, a kernel ({', '.join(KERNELS)}) or a schedule of "
                                 f"kernels such as sw,hb, got {given!r}")
            object.__setattr__(self, "sampler", schedule)
        if self.sampler == "flow" and self.checkpoint is None:
            raise UsageError(lambda n: f"{n('sampler')} flow needs a checkpoint (or choose chains: {n('sampler')} {', '.join(KERNELS)} or a schedule such as sw,hb)")
        if self.sampler != "flow" and self.checkpoint is None and self.image is None and self.unary is None:
            raise UsageError(lambda n: f"{n('sampler')} {self.sampler} needs {n('image')}, {n('unary')} or a checkpoint whose image it samples")
        if isinstance(self.sweeps, bool) or int(self.sweeps) != self.sweeps or self.sweeps < 1:
            raise UsageError(lambda n: f"{n('sweeps')} must be an integer ≥ 1, got {self.sweeps}")
        if self.finish is not None and self.sampler != "flow":
            raise UsageError(lambda n: f"{n('finish')} applies to {n('sampler')} flow (the chains run {n('sweeps')} sweeps)")
        parse_finish(self.finish)
        if self.labels is not None and self.classes is not None:
            raise UsageError(lambda n: f"give {n('labels')} or {n('classes')}, not both")
        if self.unary_kind is not None and self.unary_kind not in UNARY_KINDS:
            raise UsageError(lambda n: f"{n('unary_kind')} must be one of {', '.join(UNARY_KINDS)}, got {self.unary_kind!r}")
        if self.unary is None and self.unary_key is not None:
            raise UsageError(lambda n: f"{n('unary_key')} applies to {n('unary')} only")
        if self.unary is not None:
            _refuse_colour_model(self)


def load_checkpoint(path: Path) -> dict:
    """A ``train.py`` checkpoint as a dict (one-line errors for a missing, unreadable or foreign file)."""
    ckpt = read_checkpoint(path, "checkpoint")
    if "hyper_parameters" not in ckpt:
        raise UsageError(lambda n: f"{n('checkpoint')}: {path} is not a train.py checkpoint (no hyperparameters)")
    return ckpt


def datamodule_of(config: SampleConfig, saved: dict | None):
    """The DataModule of the image to sample: ``config.image`` with the checkpoint's data term, else the checkpoint's own."""
    saved = dict(saved or {})
    saved.pop("steps_per_epoch", None)
    with owned_by("data"):
        if config.image is None and config.unary is None:
            if saved.get("width") is not None or saved.get("height") is not None:  # an Ising checkpoint
                return IsingDataModule(**saved)
            if saved.get("unary") is not None:  # its own array: the options of the image's colour model do not apply
                _refuse_colour_model(config)
                return ImageDataModule(**{**saved, **_given(config, "beta", "unary_kind", "unary_scale", "contrast", "contrast_floor")})
            return ImageDataModule(**{**saved, **_given(config, "sigma", "beta", "max_size", "contrast", "contrast_floor")})
        if config.unary is not None:  # a new array: the checkpoint's names, kind, scale, beta and contrast unless given
            keep = {k: saved[k] for k in ("labels", "beta", "unary_kind", "unary_scale", "contrast", "contrast_floor", "max_pixels", "seed")
                    if saved.get(k) is not None}
            given = _given(config, "labels", "beta", "unary_kind", "unary_scale", "unary_key", "contrast", "contrast_floor")
            unary = config.unary if isinstance(config.unary, np.ndarray) else str(Path(config.unary).expanduser())
            return ImageDataModule(unary=unary, image=_image_of(config), **{**keep, **given})
        given = _given(config, "labels", "classes", "sigma", "beta", "max_size", "contrast", "contrast_floor")
        bundled = saved.get("labels") == DEFAULT_LABELS  # the bundled image's own labels: a photo gets k-means colours
        if "labels" not in given and "classes" not in given and not bundled:  # the checkpoint's kind of labels
            key = "classes" if saved.get("classes") is not None else "labels"
            if saved.get(key) is not None:
                given[key] = saved[key]
        keep = {k: saved[k] for k in ("sigma", "beta", "max_size", "max_pixels", "seed", "contrast", "contrast_floor") if k in saved}
        return ImageDataModule(image=_image_of(config), **{**keep, **given})


def flow_for(ckpt: dict, energy, new_image: bool, finish: str | int | None = None) -> RandomizedFlow:
    """The checkpoint's flow on ``energy``: as saved on its own image; rebuilt for the grid of a new one, its
    per-image tensors (:data:`PER_IMAGE`) from the new data term and its learned ones from the checkpoint; ``finish``
    (``--finish``) replaces its finish's rounds."""
    hp = {**INTRODUCED, **ckpt["hyper_parameters"]}
    if finish is not None:
        rounds, round_ = parse_finish(finish)
        hp["finish_rounds"] = rounds
        if round_ is not None:
            hp["finish_round"] = round_
    if not new_image:
        model = RandomizedFlow(**hp)
        model.load_state_dict(ckpt["state_dict"])
        return model.attach_energy(energy)
    if not hp.get("stationary"):
        raise UsageError(lambda n: f"{n('checkpoint')}: its flow (recipe {hp.get('recipe')!r}) has parameters per pixel, so it samples "
                         "only its own image; train a stationary one (--recipe image-stationary) to sample other images")
    settings = {k: v for k, v in hp.items() if k not in ("n", "c", "grid", "recipe", "seed")}
    with owned_by("model"):
        model = RandomizedFlow.from_recipe(hp["recipe"], energy, seed=hp["seed"], start="data", **settings)
    learned = {k: v for k, v in ckpt["state_dict"].items() if k not in PER_IMAGE}
    missing, unexpected = model.load_state_dict(learned, strict=False)
    if unexpected or set(missing) != set(PER_IMAGE) & set(model.state_dict()):
        raise UsageError(lambda n: f"{n('checkpoint')}: its flow does not fit this image's model (missing {missing}, unexpected {unexpected})")
    return model


def model_for(config: SampleConfig, ckpt: dict | None, energy):
    """What draws the samples: the checkpoint's model, or chains from random labelings."""
    if config.sampler != "flow":
        with owned_by("model"):
            return RandomStartChains(energy, config.sampler, sweeps=config.sweeps)
    hp = ckpt["hyper_parameters"]
    if "recipe" in hp:
        return flow_for(ckpt, energy, new_image=config.image is not None or config.unary is not None, finish=config.finish)
    if config.image is not None or config.unary is not None:
        raise UsageError(lambda n: f"{n('image')}: a {'mean-field' if 'restarts' in hp else 'VAN'} checkpoint learned one "
                         "distribution per pixel of its own image; sample that image (leave out the option)")
    model = (MeanField if "restarts" in hp else VAN)(**hp)
    model.load_state_dict(ckpt["state_dict"])
    return model.attach_energy(energy)


def default_out(config: SampleConfig, datamodule) -> Path:
    name = Path(getattr(datamodule, "unary_path", None) or getattr(datamodule, "image_path", None) or "ising").stem
    suffix = "" if config.sampler == "flow" else f"_{config.sampler.replace(',', '-')}"
    if config.checkpoint is not None:
        ckpt = Path(config.checkpoint).expanduser().resolve()
        run_folder = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
        return run_folder / "samples" / f"{name}{suffix}"
    return Path("samples") / f"{name}{suffix}"


def device_of(name: str) -> torch.device:
    """The device called ``name`` (a one-line error for anything else)."""
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(lambda n: f"{n('device')} {name!r} is not a device (cpu, cuda, cuda:1, …)") from None


def sample(config: SampleConfig) -> dict:
    """Draw ``config.samples`` samples and write what a run folder has (``summary.json``, ``samples.npy``,
    ``marginals.npy``, ``entropy.npy``, the PNGs) into ``config.out``. Returns the summary.

    Raises:
        UsageError: bad input, found before anything is written.
    """
    use_threads(config.threads)
    return _sample(config, load_checkpoint(Path(config.checkpoint).expanduser()) if config.checkpoint is not None else None)


def expand_images(images: Sequence[str | Path]) -> list[str]:
    """``images`` with each glob pattern (``"photos/*.png"``) replaced by the files it matches, sorted, without repeats;
    a pattern that matches nothing stays, so that sampling it says the image is not found."""
    found = []
    for image in map(str, images):
        pattern = str(Path(image).expanduser())
        matches = sorted(glob.glob(pattern)) if glob.has_magic(image) and not Path(pattern).exists() else []
        found += matches or [image]
    return list(dict.fromkeys(found))


def sample_many(config: SampleConfig, images: Sequence[str | Path]) -> Iterator[tuple[str, dict | UsageError]]:
    """:func:`sample` of each image in turn, with ``config``'s settings: yields ``(image, summary)``, or ``(image, error)``
    for an image that is bad input (unreadable, another size than the checkpoint's flow takes, …), which is skipped.

    Each image's results go to a folder of its own: ``config.out / <image name>`` where ``out`` is given (the parent),
    else its default (:func:`default_out`); a second image of the same name finds that folder taken and is skipped
    (nothing is overwritten). The checkpoint is read once.

    Raises:
        UsageError: bad input for all of them (the checkpoint, the device, ``out`` a file, a ``unary`` with many images),
            before the first image.
    """
    if config.unary is not None and len(images) > 1:
        raise UsageError(lambda n: f"{n('unary')} is the data term of one image: give one {n('image')} with it")
    device_of(config.device)
    parent = None if config.out is None else Path(config.out).expanduser()
    if parent is not None and parent.exists() and not parent.is_dir():
        raise UsageError(lambda n: f"{n('out')} {parent} is a file: with several images it is the folder of their folders")
    ckpt = load_checkpoint(Path(config.checkpoint).expanduser()) if config.checkpoint is not None else None
    for image in images:
        try:
            one = replace(config, image=image, out=None if parent is None else parent / Path(image).stem)
            yield image, _sample(one, ckpt)
        except UsageError as err:
            yield image, err


def sampler_for(config: SampleConfig, ckpt: dict | None):
    """``(datamodule, model)``: the image to sample, read and checked, and what samples it, on ``config.device``
    (``ckpt``: the checkpoint read, ``None``: none). Bad input is a :class:`UsageError`; nothing is written."""
    datamodule = datamodule_of(config, None if ckpt is None else ckpt.get("datamodule_hyper_parameters"))
    with owned_by("data"):
        energy = datamodule.energy  # reads and checks the image before anything is written
    device = device_of(config.device)
    with owned_by("model"):  # e.g. the checkpoint's own image at another --max-size: another grid than the model's
        return datamodule, model_for(config, ckpt, energy).to(device)


def _sample(config: SampleConfig, ckpt: dict | None) -> dict:
    """:func:`sample` with its checkpoint read (``None``: none)."""
    datamodule, model = sampler_for(config, ckpt)
    out = Path(config.out or default_out(config, datamodule)).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(lambda n: f"{n('out')} {out} already holds {'a file' if not out.is_dir() else 'files'}: "
                         f"choose another {n('out')} (nothing there is overwritten)")
    with owned_by("summary"):
        summary = RunSummary(samples=config.samples, dirpath=out, seed=config.seed, progress=console.stage_bar if sys.stdout.isatty() else None,
                             **({} if config.sampler == "flow" else {"marginal_samples": None}))  # chains: from their samples
    L.seed_everything(config.seed, verbose=False)
    names = getattr(datamodule, "label_names", None)
    colours = getattr(datamodule, "label_colours", None)
    start = time.perf_counter()
    run = {"sampler": config.sampler, "checkpoint": None if config.checkpoint is None else str(config.checkpoint),
           "image": getattr(datamodule, "image_path", None), "unary": getattr(datamodule, "unary_path", None),
           "sweeps": None if config.sampler == "flow" else config.sweeps}
    out = summary.write_results(model, names, colours, run, image=input_image(datamodule, model.energy.grid))
    out["seconds"] = round(time.perf_counter() - start, 2)  # drawing, scoring and writing
    out["folder"] = str(summary.folder)
    return out


def _refuse_colour_model(config: SampleConfig) -> None:
    """The options of an image's colour model, given where an array is the data term: a one-line error."""
    unused = [k for k in ("classes", "sigma", "max_size") if getattr(config, k) is not None]
    if unused:
        raise UsageError(lambda n: f"{', '.join(map(n, unused))} {'does' if len(unused) == 1 else 'do'} not apply to {n('unary')}: "
                         f"the array is the data term (its last axis the labels), and neither it nor {n('image')} is resized")


def _image_of(config: SampleConfig):
    """``config.image``: an array in memory as it is, a path resolved (:func:`run.build.resolve_image`)."""
    return config.image if isinstance(config.image, np.ndarray) else resolve_image(config.image)


def _given(config: SampleConfig, *names: str) -> dict:
    """The options given; ``max_size`` 0 keeps the image's size (``None`` to the DataModule)."""
    given = {k: getattr(config, k) for k in names if getattr(config, k) is not None}
    if given.get("max_size") == 0:
        given["max_size"] = None
    return given
