"""Train a randomized assignment flow (or the mean-field baseline) on an image or an Ising grid.

    python train.py                                   # the bundled cat-or-lion image (Fig. 1)
    python train.py --image photo.jpg                 # any image: 3 k-means colours (--classes K, or --labels)
    python train.py --ising 3x8 --max-steps 2000      # the Table 1 family
    python train.py --resume last                     # continue the newest run under --root-dir

A run leaves TensorBoard logs, checkpoints and its results in ``<root-dir>/lightning_logs/version_N/``.
It says what it is about to do (image, size, labels, model, steps, run folder), shows one progress bar
over the whole run in a terminal (``--quiet``: none), and ends with where the results are.
Bad input ends with one line on stderr and exit code 2.

Nothing heavy is imported before the arguments are parsed (``--help`` answers at once): torch, Lightning
and the project's packages are imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent


class UsageError(ValueError):
    """Bad command-line input; reported as one line, exit code 2."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: …)`` except where the default is ``None`` (the help text says what applies)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from data.defaults import DEFAULT_BETA, DEFAULT_CLASSES, DEFAULT_IMAGE, DEFAULT_LABELS, DEFAULT_MAX_SIZE, DEFAULT_SIGMA  # no torch
    from models.recipes import BASELINE_MAX_STEPS, RECIPES  # settings only: no torch

    p = _Parser(
        prog="train.py",
        description="Randomized assignment flows: learn a Gibbs distribution and draw structured samples.",
        formatter_class=_Formatter,
    )
    data = p.add_argument_group("data (an image, or --ising)")
    data.add_argument("--image", default=None, help=f"image file; a bare name also resolves in data/ (default: data/{DEFAULT_IMAGE.name})")
    data.add_argument("--labels", default=None, help=f'label colours "name=#rrggbb,..." (default: "{DEFAULT_LABELS}" on '
                      f'the bundled image, {DEFAULT_CLASSES} k-means colours on any other)')
    data.add_argument("--classes", type=int, default=None, help="fit this many label colours by k-means instead of --labels")
    data.add_argument("--sigma", type=float, default=None, help=f"colour std of the Gaussian data term, RGB in [0, 1] (default: {DEFAULT_SIGMA})")
    data.add_argument("--beta", type=float, default=None, help=f"Potts weight per disagreeing neighbour pair (default: {DEFAULT_BETA})")
    data.add_argument("--max-size", type=int, default=None,
                      help=f"downscale the image's longer side to this many pixels, 0: keep (default: {DEFAULT_MAX_SIZE})")
    data.add_argument("--ising", metavar="HxW", default=None, help="train the Ising grid of this size instead of an image (Table 1: 3x8)")
    data.add_argument("--coupling", type=float, default=None, help="Ising coupling per disagreeing pair (default: Table 1's)")

    model = p.add_argument_group("model")
    model.add_argument("--model", choices=("flow", "meanfield", "van"), default="flow",
                       help="randomized flow, or a baseline: mean field, or the variational autoregressive network (VAN)")
    model.add_argument("--recipe", choices=tuple(RECIPES), default=None,
                       help="the flow's settings (models/recipes.py; the options below override single ones): 'image' "
                       "(the default on images: local randomness, separate regions decide independently), "
                       "'image-global' (one label offset per image: every region follows the same draw), "
                       "'image-untied' (no label tying), 'ising' (the default on --ising: Table 1), 'paper' (§5 as written)")
    model.add_argument("--samples", type=int, default=None, help="flow samples per step m, or the VAN's batch (default: the recipe's, the VAN's own)")
    model.add_argument("--lr", type=float, default=None, help="Adam step length (default: the recipe's, the baseline's own)")
    model.add_argument("--omega", choices=("conv", "dense"), default=None, help="flow Ω (default: the recipe's)")
    model.add_argument("--kernel-size", type=int, default=None, help="conv Ω kernel size, odd (default: the recipe's)")
    model.add_argument("--end-time", type=float, default=None, help="flow end time T (default: the recipe's)")
    model.add_argument("--step-size", type=float, default=None, help="Euler step h (default: the recipe's)")
    model.add_argument("--omega-variance", type=float, default=None, help="initial variance of Ω's weights (default: the recipe's)")
    model.add_argument("--rounding", choices=("argmax", "draw"), default=None,
                       help="soft sample → labeling: argmax, or a draw per node with a score-function gradient "
                       "(default: the recipe's)")
    model.add_argument("--anneal", type=float, default=None,
                       help="fraction of training over which the energy weight ramps from 0 to 1 (default: the recipe's)")
    model.add_argument("--learn-offset", action="store_true",
                       help="learn the mean of the tied label offset by a score-function term, so mode weights can "
                       "follow an asymmetric data term (experimental, --recipe image-global; follows it only partway)")
    model.add_argument("--start", choices=("data", "random"), default=None,
                       help="flow start S0: softmax(−unary) of the data term, or random (default: the recipe's)")
    model.add_argument("--restarts", type=int, default=None, help="mean-field random restarts (default: mean field's own)")

    train = p.add_argument_group("training")
    train.add_argument("--max-steps", type=int, default=None, help="optimizer steps, counting resumed ones (default: the recipe's, "
                       f"{RECIPES['image'].max_steps} on images, {RECIPES['ising'].max_steps} on --ising; "
                       f"mean field {BASELINE_MAX_STEPS['meanfield']}, VAN {BASELINE_MAX_STEPS['van']})")
    train.add_argument("--seed", type=int, default=0, help="seed of everything")
    train.add_argument("--root-dir", default=".", help="runs go to <root-dir>/lightning_logs/version_N/")
    train.add_argument("--resume", metavar="PATH|last", default=None, help="checkpoint to continue from; 'last': the newest last.ckpt under --root-dir")
    train.add_argument("--accelerator", default="auto", help="cpu, gpu, auto, ...")
    train.add_argument("--devices", default="1", help="number of devices (or 'auto')")
    train.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp (the flow's m samples split across processes)")
    train.add_argument("--checkpoint-every", type=int, default=100, help="periodic checkpoint every N steps (plus last.ckpt)")
    train.add_argument("--log-every", type=int, default=50, help="sample metrics every N steps (images every 2N)")
    train.add_argument("--summary-samples", type=int, default=256, help="joint samples saved in samples.npy and scored (≥ 64)")
    train.add_argument("--exact", choices=("auto", "on", "off"), default="auto", help="exact KL / marginal difference when enumerable")
    train.add_argument("--quiet", action="store_true", help="no progress bar (it is also off when stdout is not a terminal)")
    train.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)  # the old switch; the bar is on by default now
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, build, train, print the figures. Returns the exit code.

    Bad input found while parsing and building (before anything is trained) ends with one line on stderr and
    exit code 2; an exception once training runs is a bug and keeps its traceback.
    """
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help
            return int(exit_.code or 0)
        built = build(args)
    except Exception as err:
        if not isinstance(err, _bad_input_errors()):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"train.py: error: {message}", file=sys.stderr)
        return 2
    return fit(built)


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    """Errors of the build phase that mean bad input: ours, and Lightning's for a bad --accelerator /
    --devices / --strategy (looked up only once Lightning is loaded, so ``--help`` never imports it)."""
    errors: tuple[type[BaseException], ...] = (ValueError, OSError)
    lightning_errors = sys.modules.get("lightning.fabric.utilities.exceptions")
    if lightning_errors is not None:
        errors += (lightning_errors.MisconfigurationException,)
    return errors


# -- building blocks ---------------------------------------------------------------------------------
def resolve_image(image: str | None) -> str | None:
    """A path as given, else a bare name in the bundled ``data/`` folder."""
    if image is None:
        return None
    path = Path(image).expanduser()
    if not path.exists() and not path.is_absolute() and (REPO / "data" / path).exists():
        return str(REPO / "data" / path)
    return str(path)


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise UsageError(f"--ising {text!r}: expected HxW, e.g. 3x8")
    h, w = int(match.group(1)), int(match.group(2))
    if h < 1 or w < 2:
        raise UsageError(f"--ising {text!r}: the grid needs at least 1x2 nodes")
    return h, w


def check_args(args: argparse.Namespace) -> None:
    """What only the command line decides: the run's length and periods, and options that exclude each other.
    Every other value is checked by the class that owns it (:func:`owner_errors` names its flag)."""
    if args.max_steps is None:
        args.max_steps = default_max_steps(args)
    for name in ("max_steps", "checkpoint_every", "log_every"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(args, name)}")
    if args.max_size is not None and args.max_size < 0:
        raise UsageError(f"--max-size must be ≥ 0 (0 keeps the size), got {args.max_size}")
    if args.ising is not None:
        image_opts = [_flag(k) for k in IMAGE_ONLY if getattr(args, k) is not None]
        if image_opts:
            raise UsageError(f"--ising trains a synthetic grid: drop {', '.join(image_opts)}")
    elif args.coupling is not None:
        raise UsageError("--coupling applies to --ising only (images use --beta)")
    unused = [_flag(k) for k, models in MODEL_ONLY.items() if args.model not in models and getattr(args, k) not in (None, False)]
    if unused:
        raise UsageError(f"{', '.join(unused)} do{'es' if len(unused) == 1 else ''} not apply to --model {args.model}")
    if args.model == "flow" and args.kernel_size is not None and (args.omega or recipe_settings(args)["omega"]) != "conv":
        raise UsageError("--kernel-size applies to the conv Ω; this run's Ω is dense")


# options of images only, and options of some models only (the others would ignore them)
IMAGE_ONLY = ("image", "labels", "classes", "sigma", "beta", "max_size")
_FLOW = ("flow",)
MODEL_ONLY = {
    "recipe": _FLOW, "omega": _FLOW, "kernel_size": _FLOW, "end_time": _FLOW, "step_size": _FLOW, "omega_variance": _FLOW,
    "rounding": _FLOW, "anneal": _FLOW, "learn_offset": _FLOW, "start": _FLOW, "samples": ("flow", "van"), "restarts": ("meanfield",),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")

# the command-line flag of each constructor argument that train.py passes on: an owner's message names its
# argument (``sigma must be positive``), the command line shows the flag (``--sigma must be positive``)
DATA_FLAGS = {"labels": "--labels", "classes": "--classes", "sigma": "--sigma", "beta": "--beta", "max_size": "--max-size",
              "coupling": "--coupling"}
MODEL_FLAGS = {
    "samples_per_step": "--samples", "batch_size": "--samples", "lr": "--lr", "omega": "--omega", "kernel_size": "--kernel-size",
    "end_time": "--end-time", "step_size": "--step-size", "omega_variance": "--omega-variance", "variance": "--omega-variance",
    "rounding": "--rounding", "anneal_fraction": "--anneal", "learn_offset_mean": "--learn-offset", "start": "--start",
    "restarts": "--restarts", "recipe": "--recipe",
}


@contextlib.contextmanager
def owner_errors(flags: dict[str, str]):
    """Re-raise an owner's ``ValueError`` as bad input, its argument names replaced by their flags: a name that
    starts the message (``sigma must be …``) or is followed by ``=`` (``omega='conv'``, ``classes=300``); a
    name elsewhere is a plain word (``at least 2 labels``) and stays."""
    try:
        yield
    except ValueError as err:
        message = str(err)
        for name, flag in flags.items():
            message = re.sub(rf"^{name}(?![\w=])", flag, message)
            message = re.sub(rf"(?<![\w-]){name}='?([^',;)\s]*)'?", lambda m: f"{flag} {m[1]}", message)
        raise UsageError(message) from None


def default_max_steps(args: argparse.Namespace) -> int:
    from models.recipes import BASELINE_MAX_STEPS, RECIPES

    return BASELINE_MAX_STEPS[args.model] if args.model != "flow" else RECIPES[flow_recipe(args)].max_steps


def flow_recipe(args: argparse.Namespace) -> str:
    return args.recipe or ("ising" if args.ising is not None else "image")


def recipe_settings(args: argparse.Namespace) -> dict:
    from models.recipes import RECIPES

    return dict(RECIPES[flow_recipe(args)].flow)


def build_datamodule(args: argparse.Namespace):
    from data import ImageDataModule, IsingDataModule

    if args.ising is not None:
        h, w = parse_size(args.ising)
        with owner_errors(DATA_FLAGS):
            return IsingDataModule(h, w, **_given(coupling=args.coupling))
    with owner_errors(DATA_FLAGS):
        return ImageDataModule(
            image=resolve_image(args.image), labels=args.labels, classes=args.classes, seed=args.seed,
            **_given(sigma=args.sigma, beta=args.beta), **({} if args.max_size is None else {"max_size": args.max_size or None}),
        )


def _given(**options) -> dict:
    """The options given on the command line (``None``: not given, the owner's default applies)."""
    return {k: v for k, v in options.items() if v is not None}


def build_model(args: argparse.Namespace, energy):
    """The model of ``--model``: the flow from its recipe with the options given, or a baseline."""
    with owner_errors(MODEL_FLAGS):
        if args.model == "meanfield":
            from models import MeanField

            return MeanField(energy.n, energy.c, **_given(restarts=args.restarts, lr=args.lr))
        if args.model == "van":
            from models.van import VAN

            return VAN(energy.n, energy.c, grid=energy.grid, seed=args.seed, **_given(lr=args.lr, batch_size=args.samples))
        from models.recipes import RECIPES

        return RECIPES[flow_recipe(args)].build(
            energy, seed=args.seed, start=args.start, samples_per_step=args.samples, lr=args.lr, omega=args.omega,
            kernel_size=args.kernel_size, end_time=args.end_time, step_size=args.step_size,
            omega_variance=args.omega_variance, rounding=args.rounding, anneal_fraction=args.anneal,
            # --rounding names the rounding with its gradient: a draw carries its score-function term
            score_function=None if args.rounding is None else args.rounding == "draw",
            learn_offset_mean=args.learn_offset or None,
        )


def find_last(root_dir: Path) -> Path:
    """The newest ``lightning_logs/version_N/checkpoints/last.ckpt`` under ``root_dir``."""
    found = sorted(
        (root_dir / "lightning_logs").glob("version_*/checkpoints/last.ckpt"),
        key=lambda p: (p.stat().st_mtime, _version(p.parent.parent)),
    )
    if not found:
        raise UsageError(f"--resume last: no lightning_logs/version_*/checkpoints/last.ckpt under {root_dir}")
    return found[-1]


def _version(folder: Path) -> int:
    match = re.fullmatch(r"version_(\d+)", folder.name)
    return int(match.group(1)) if match else -1


def check_checkpoint(path: Path, model, datamodule) -> dict:
    """Load ``path`` and check that it is a checkpoint of this model on this energy (one-line errors)."""
    import torch

    from models.recipes import ALIASES, RECIPES

    if not path.exists():
        raise UsageError(f"--resume: checkpoint not found: {path}")
    if path.is_dir():
        raise UsageError(f"--resume: {path} is a directory, not a checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # any unpickling failure means "not a checkpoint"
        raise UsageError(f"--resume: {path} is not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "global_step" not in ckpt:
        raise UsageError(f"--resume: {path} is not a Lightning checkpoint")
    saved = ckpt["state_dict"]
    mine = model.state_dict()
    if set(saved) != set(mine) or any(tuple(saved[k].shape) != tuple(mine[k].shape) for k in mine):
        hp = ckpt.get("hyper_parameters", {})
        recipe = ALIASES.get(hp.get("recipe"), hp.get("recipe"))
        if recipe in RECIPES and "recipe" in model.hparams and recipe != model.hparams.recipe:  # both are flows
            raise UsageError(f"--resume: {path} was trained with --recipe {recipe}; add it to continue")
        raise UsageError(
            f"--resume: {path} holds another model (n={hp.get('n')}, c={hp.get('c')}) than this run's "
            f"{type(model).__name__} (n={model.n}, c={model.c}); check --model, --recipe, --omega, the image, --max-size and the labels"
        )
    dm_state = ckpt.get(type(datamodule).__qualname__)
    if isinstance(dm_state, dict) and "fingerprint" in dm_state and hasattr(datamodule, "check_fingerprint"):
        try:
            datamodule.check_fingerprint(dm_state["fingerprint"])
        except ValueError as err:
            raise UsageError(f"--resume: {err}") from None
    saved_dm = ckpt.get("datamodule_hyper_parameters")
    if saved_dm is not None and not hasattr(datamodule, "check_fingerprint"):
        mine_dm = dict(datamodule.hparams)
        diff = [k for k in mine_dm if k != "steps_per_epoch" and saved_dm.get(k) != mine_dm[k]]
        if diff:
            raise UsageError(f"--resume: checkpoint was trained on another energy ({', '.join(f'{k}={saved_dm.get(k)}' for k in diff)})")
    return ckpt


def build(args: argparse.Namespace) -> SimpleNamespace:
    """Check the arguments, read the input, build the DataModule, model, callbacks and Trainer, and say what
    the run will do. Raises ``ValueError``/``OSError`` (bad input) before anything is written."""
    check_args(args)
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    from callbacks import RunSummary, SampleImages, SampleMetrics
    from callbacks.atomic_checkpoint_io import AtomicCheckpointIO
    from callbacks.console import RunProgressBar, library_noise_filtered
    from callbacks.run_report import describe_run
    from callbacks.run_guards import FiniteLossGuard, GracefulInterrupt, LastCheckpoint
    from callbacks.run_logger import RunLogger

    L.seed_everything(args.seed, verbose=False)
    datamodule = build_datamodule(args)
    with owner_errors(DATA_FLAGS):
        energy = datamodule.energy  # reads and checks the input before anything is written
    model = build_model(args, energy)

    root = Path(args.root_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--root-dir {root} is a file")
    ckpt_path, version, start_step = None, None, 0
    if args.resume is not None:
        ckpt_path = find_last(root) if args.resume == "last" else Path(args.resume).expanduser()
        ckpt = check_checkpoint(ckpt_path, model, datamodule)
        start_step = int(ckpt["global_step"])
        if start_step >= args.max_steps:
            raise UsageError(f"--resume: the checkpoint is at step {start_step}; raise --max-steps above it to train on")
        # a checkpoint of a run under this root continues in that run's folder
        folder = ckpt_path.resolve().parent.parent
        if ckpt_path.resolve().parent.name == "checkpoints" and folder.parent.resolve() == (root / "lightning_logs").resolve():
            version = _version(folder) if _version(folder) >= 0 else None

    exact = {"auto": "auto", "on": True, "off": False}[args.exact]
    metrics = SampleMetrics(every_n_steps=args.log_every, samples=256, exact=exact)
    metrics.check_energy(energy)
    # TensorBoard's HPARAMS tab: the command line, completed by what the data and the model resolved
    hparams = {k: v for k, v in vars(args).items() if v is not None and k not in ("quiet", "progress")}
    hparams.update({k: v for k, v in {**datamodule.hparams, **model.hparams}.items() if v is not None})
    with owner_errors({"samples": "--summary-samples"}):
        summary = RunSummary(
            samples=args.summary_samples, seed=args.seed, hparams=hparams,
            extra={"args": {k: v for k, v in vars(args).items()}, "image": getattr(datamodule, "image_path", None),
                   "image_size_original": list(reversed(getattr(datamodule, "original_size", None) or ())) or None},
        )
    guard = FiniteLossGuard()  # first: nothing may sample or save a model whose step went non-finite
    callbacks = [
        guard,
        metrics,
        SampleImages(every_n_steps=2 * args.log_every, seed=args.seed),
        summary,
        ModelCheckpoint(
            filename="step{step:06d}", auto_insert_metric_name=False, every_n_train_steps=args.checkpoint_every,
            save_top_k=-1, save_last=True,
            # at train end it rewrites last.ckpt only when it saved nothing during the run; LastCheckpoint always
            # saves it there, so a second write must replace the file, not add last-v1.ckpt
            enable_version_counter=False,
        ),
        LearningRateMonitor(logging_interval="step"),
    ]
    interrupt = GracefulInterrupt()
    callbacks += [LastCheckpoint(), interrupt]
    show_bar = not args.quiet and sys.stdout.isatty()
    if show_bar:
        callbacks.append(RunProgressBar())
    logger = RunLogger(str(root), name="lightning_logs", version=version, default_hp_metric=False)
    devices = args.devices if args.devices == "auto" else _int(args.devices, "--devices")
    with library_noise_filtered():
        trainer = L.Trainer(
            max_steps=args.max_steps, accelerator=args.accelerator, devices=devices, strategy=args.strategy, logger=logger,
            callbacks=callbacks, default_root_dir=str(root), log_every_n_steps=min(10, args.log_every),
            enable_progress_bar=show_bar, enable_model_summary=False, num_sanity_val_steps=0,
            plugins=[AtomicCheckpointIO()],
        )
        processes = trainer.num_devices * trainer.num_nodes
        samples = model.hparams.get("samples_per_step")
        if processes > 1 and samples is not None and samples % processes:
            raise UsageError(f"--samples {samples} must be divisible by the {processes} processes (the m samples are split)")
        if rank_zero_only.rank == 0:  # DDP processes started by Lightning run this script again
            device = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()
            print("\n".join(describe_run(args, datamodule, model, start_step, ckpt_path, Path(logger.log_dir), device, processes)), flush=True)
    return SimpleNamespace(trainer=trainer, model=model, datamodule=datamodule, ckpt_path=ckpt_path, interrupt=interrupt,
                           summary=summary, root=root)


def fit(built: SimpleNamespace) -> int:
    """Train what :func:`build` built; report. Returns the exit code (130/143 after Ctrl-C/SIGTERM, 1 for a
    non-finite loss)."""
    from callbacks.console import library_noise_filtered
    from callbacks.run_guards import NonFiniteLossError
    from callbacks.run_report import report

    trainer, model, interrupt, summary = built.trainer, built.model, built.interrupt, built.summary
    ckpt_path = built.ckpt_path
    with library_noise_filtered():
        try:
            trainer.fit(model, datamodule=built.datamodule, ckpt_path=None if ckpt_path is None else str(ckpt_path))
        except SystemExit:  # Lightning's graceful shutdown after Ctrl-C
            if not trainer.interrupted:
                raise
            print(f"train.py: interrupted at step {trainer.global_step}; continue with --resume last", file=sys.stderr)
            return 130
        except NonFiniteLossError as err:
            print(f"train.py: error: {err}", file=sys.stderr)
            return 1
    if interrupt.stopped:
        if not trainer.is_global_zero:  # a non-zero exit of a DDP child makes Lightning kill every process
            return 0
        print(f"train.py: interrupted at step {trainer.global_step}; last.ckpt saved, continue with --resume last", file=sys.stderr)
        return 128 + (interrupt.signal or signal.SIGTERM)
    if trainer.is_global_zero and summary.summary is not None:
        report(summary.summary, summary.folder, built.root)
    return 0


def _int(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be an integer or 'auto', got {text!r}") from None
    if value < 1:
        raise UsageError(f"{name} must be ≥ 1, got {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
