"""The pieces of a run, built from its config: the DataModule, the model, the callbacks and the Trainer.

The input is read and checked before anything is written (the run folder included); bad input found on the
way is a :class:`~run.errors.UsageError`, an owner's message passed on with ``owner`` set.
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from callbacks import RunSummary, SampleImages, SampleMetrics
from callbacks.common import affordable
from callbacks.run_guards import FiniteLossGuard, GracefulInterrupt, LastCheckpoint
from data import ImageDataModule, IsingDataModule
from models.baselines.mean_field import MeanField
from models.flow.randomized_flow import RandomizedFlow
from models.baselines.van import VAN
from run import console
from run.checkpoint_io import AtomicCheckpointIO
from run.config import RunConfig, device_count, parse_finish, parse_size
from run.errors import UsageError
from run.logger import RunLogger
from run.report import describe_run
from run.resume import check_checkpoint, continued_version, find_last

REPO = Path(__file__).resolve().parents[1]
EVALUATION_SAMPLES = 256  # samples each evaluation asks for (fewer on large images: callbacks.common.affordable)
LOG_EVERY = 50  # steps between evaluations that draw EVALUATION_SAMPLES of up to 128² pixels


def default_log_every(n: int) -> int:
    """Steps between evaluations on ``n`` nodes: :data:`LOG_EVERY` while an evaluation draws at most 256 samples of 128²
    pixels, a multiple of it in proportion to its node-samples above that, rounded up (they grow to 2^23, where
    ``affordable`` caps them, twice those at 128²: 100 steps above 128²). The flow's training step stops growing at its
    128² crop, so the evaluations keep about the share of a run they have at 128² (docs/research.md, "Full size")."""
    node_samples = affordable(EVALUATION_SAMPLES, n) * n
    return LOG_EVERY * max(1, math.ceil(node_samples / (EVALUATION_SAMPLES * 128**2)))


@dataclass
class BuiltRun:
    """A run ready to train: what :func:`build` made of a config."""

    config: RunConfig  # as given, with ``max_steps`` resolved
    datamodule: L.LightningDataModule
    model: L.LightningModule
    trainer: L.Trainer
    logger: RunLogger
    summary: RunSummary
    interrupt: GracefulInterrupt
    ckpt_path: Path | None
    root: Path


def build(config: RunConfig) -> BuiltRun:
    """Read and check the input, build the DataModule, model, callbacks and Trainer, and say what the run will do
    (rank zero). Raises :class:`~run.errors.UsageError` (bad input) before anything is written."""
    try:
        return _build(config)
    except UsageError:
        raise
    except (ValueError, OSError, MisconfigurationException) as err:  # e.g. Lightning's for a bad strategy
        raise UsageError(str(err) or type(err).__name__) from err


@contextmanager
def owned_by(owner: str):
    """An owner's ``ValueError`` (bad input it found) as a :class:`UsageError` of that ``owner``, its message kept."""
    try:
        yield
    except UsageError:
        raise
    except ValueError as err:
        raise UsageError(str(err), owner=owner) from err


def resolve_image(image: str | Path | None) -> str | None:
    """A path as given, else a bare name in the bundled ``data/`` folder."""
    if image is None:
        return None
    path = Path(image).expanduser()
    if not path.exists() and not path.is_absolute() and (REPO / "data" / path).exists():
        return str(REPO / "data" / path)
    return str(path)


def build_datamodule(config: RunConfig):
    """The DataModule of ``config``: the Ising grid of ``ising``, else the image (or the data term ``unary``)."""
    with owned_by("data"):
        if config.ising is not None:
            return IsingDataModule(*parse_size(config.ising), **_given(coupling=config.coupling))
        return ImageDataModule(
            image=resolve_image(config.image), labels=config.labels, classes=config.classes, seed=config.seed,
            **_given(sigma=config.sigma, beta=config.beta), **({} if config.max_size is None else {"max_size": config.max_size or None}),
            **_given(unary=None if config.unary is None else str(Path(config.unary).expanduser()), unary_kind=config.unary_kind,
                     unary_scale=config.unary_scale, unary_key=config.unary_key, contrast=config.contrast,
                     contrast_floor=config.contrast_floor),
        )


def build_model(config: RunConfig, energy) -> L.LightningModule:
    """The model of ``config.model``: the flow from its recipe with the settings given, or a baseline."""
    with owned_by("model"):
        if config.model == "meanfield":
            return MeanField(energy.n, energy.c, **_given(restarts=config.restarts, lr=config.lr))
        if config.model == "van":
            return VAN(energy.n, energy.c, grid=energy.grid, seed=config.seed, **_given(lr=config.lr, batch_size=config.samples))
        finish_rounds, finish_round = parse_finish(config.finish)
        return RandomizedFlow.from_recipe(
            config.flow_recipe, energy, seed=config.seed, start=config.start, samples_per_step=config.samples, lr=config.lr,
            omega=config.omega, kernel_size=config.kernel_size, end_time=config.end_time, step_size=config.step_size,
            omega_variance=config.omega_variance, rounding=config.rounding, anneal_fraction=config.anneal,
            # rounding names the rounding with its gradient: a draw carries its score-function term
            score_function=None if config.rounding is None else config.rounding == "draw",
            learn_offset_mean=config.learn_offset or None, finish_cap=config.finish_cap,
            finish_rounds=finish_rounds, finish_round=finish_round,
        )



def _given(**options) -> dict:
    """The options given (``None``: not given, the owner's default applies)."""
    return {k: v for k, v in options.items() if v is not None}


def _primitive(value):
    return str(value) if isinstance(value, Path) else value


def _build(config: RunConfig) -> BuiltRun:
    config = replace(config, max_steps=config.steps)
    L.seed_everything(config.seed, verbose=False)
    datamodule = build_datamodule(config)
    with owned_by("data"):
        energy = datamodule.energy  # reads and checks the input before anything is written
    model = build_model(config, energy)

    root = Path(config.root_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise UsageError(lambda n: f"{n('root_dir')} {root} is a file")
    ckpt_path, version, start_step = None, None, 0
    if config.resume is not None:
        ckpt_path = find_last(root) if config.resume == "last" else Path(config.resume).expanduser()
        ckpt = check_checkpoint(ckpt_path, model, datamodule)
        start_step = int(ckpt["global_step"])
        if start_step >= config.max_steps:
            raise UsageError(lambda n: f"{n('resume')}: the checkpoint is at step {start_step}; raise {n('max_steps')} above it to train on")
        version = continued_version(ckpt_path, root)  # a checkpoint of a run under this root continues in its folder

    if config.log_every is None:
        config = replace(config, log_every=default_log_every(energy.n))
    exact = {"auto": "auto", "on": True, "off": False}[config.exact]
    metrics = SampleMetrics(every_n_steps=config.log_every, samples=EVALUATION_SAMPLES, exact=exact)
    metrics.check_energy(energy)
    # TensorBoard's HPARAMS tab: the config, completed by what the data and the model resolved
    options = {k: _primitive(v) for k, v in vars(config).items()}
    hparams = {k: v for k, v in options.items() if v is not None and k != "quiet"}
    hparams.update({k: v for k, v in {**datamodule.hparams, **model.hparams}.items() if v is not None})
    show_bar = not config.quiet and sys.stdout.isatty()
    with owned_by("summary"):
        summary = RunSummary(
            samples=config.summary_samples, seed=config.seed, hparams=hparams, progress=console.stage_bar if show_bar else None,
            extra={"args": options, "image": getattr(datamodule, "image_path", None), "unary": getattr(datamodule, "unary_path", None),
                   "image_size_original": list(reversed(getattr(datamodule, "original_size", None) or ())) or None},
        )
    interrupt = GracefulInterrupt()
    callbacks = [
        FiniteLossGuard(),  # first: nothing may sample or save a model whose step went non-finite
        metrics,
        SampleImages(every_n_steps=2 * config.log_every, seed=config.seed),
        summary,
        ModelCheckpoint(
            filename="step{step:06d}", auto_insert_metric_name=False, every_n_train_steps=config.checkpoint_every,
            save_top_k=-1, save_last=True,
            # at train end it rewrites last.ckpt only when it saved nothing during the run; LastCheckpoint always
            # saves it there, so a second write must replace the file, not add last-v1.ckpt
            enable_version_counter=False,
        ),
        LearningRateMonitor(logging_interval="step"),
        LastCheckpoint(),
        interrupt,
    ]
    if show_bar:
        callbacks.append(console.RunProgressBar())
    logger = RunLogger(str(root), name="lightning_logs", version=version, default_hp_metric=False)
    with console.library_noise_filtered():
        trainer = L.Trainer(
            max_steps=config.max_steps, accelerator=config.accelerator, devices=device_count(config.devices),
            strategy=config.strategy, logger=logger, callbacks=callbacks, default_root_dir=str(root),
            log_every_n_steps=min(10, config.log_every), enable_progress_bar=show_bar, enable_model_summary=False,
            num_sanity_val_steps=0, plugins=[AtomicCheckpointIO()],
        )
        processes = trainer.num_devices * trainer.num_nodes
        samples = model.hparams.get("samples_per_step")
        if processes > 1 and samples is not None and samples % processes:
            raise UsageError(lambda n: f"{n('samples')} {samples} must be divisible by the {processes} processes (the m samples are split)")
        if rank_zero_only.rank == 0:  # DDP processes started by Lightning run the script again
            device = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()
            print("\n".join(describe_run(config, datamodule, model, start_step, ckpt_path, Path(logger.log_dir), device, processes)), flush=True)
    return BuiltRun(config, datamodule, model, trainer, logger, summary, interrupt, ckpt_path, root)
