"""Train a randomized assignment flow (or the mean-field baseline) on an image or an Ising grid.

    python train.py                                   # the bundled cat-or-lion image (Fig. 1)
    python train.py --image photo.jpg                 # any image: 3 k-means colours (--classes K, or --labels)
    python train.py --unary probs.npy --image photo.png --contrast 0.1   # your network's probabilities as the data term
    python train.py --ising 3x8 --max-steps 2000      # the Table 1 family
    python train.py --resume last                     # continue the newest run under --root-dir

A run leaves TensorBoard logs, checkpoints and its results in ``<root-dir>/lightning_logs/version_N/``.
It says what it is about to do (image, size, labels, model, steps, run folder), shows one progress bar
over the whole run in a terminal (``--quiet``: none), and ends with where the results are.
Bad input ends with one line on stderr and exit code 2.

The command line only parses: each flag sets the :class:`run.RunConfig` field of its name, and
:func:`run.train` does the run (the benchmarks call it too). Nothing heavy is imported before the
arguments are parsed (``--help`` answers at once).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import fields

import run
from run import RunConfig, UsageError
from run.config import EXACT, MODELS
from run.threads import wait_passively


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
    from models.flow.recipes import BASELINE_MAX_STEPS, RECIPES, STARTS  # settings only: no torch
    from models.kernels import kernel_help  # names only: no torch

    p = _Parser(
        prog="train.py",
        description="Randomized assignment flows: learn a Gibbs distribution and draw structured samples.",
        formatter_class=_Formatter,
    )
    data = p.add_argument_group("data (an image, your own --unary array, or --ising)")
    data.add_argument("--image", help=f"image file; a bare name also resolves in data/ (default: data/{DEFAULT_IMAGE.name})")
    data.add_argument("--labels", help=f'label colours "name=#rrggbb,..." (default: "{DEFAULT_LABELS}" on '
                      f'the bundled image, {DEFAULT_CLASSES} k-means colours on any other)')
    data.add_argument("--classes", type=int, help="fit this many label colours by k-means instead of --labels")
    data.add_argument("--sigma", type=float, help=f"colour std of the Gaussian data term, RGB in [0, 1] (default: {DEFAULT_SIGMA})")
    data.add_argument("--beta", type=float, help=f"Potts weight per disagreeing neighbour pair (default: {DEFAULT_BETA})")
    data.add_argument("--max-size", type=int,
                      help=f"downscale the image's longer side to this many pixels, 0: keep (default: {DEFAULT_MAX_SIZE})")
    add_data_term_options(data)
    data.add_argument("--ising", metavar="HxW", help="train the Ising grid of this size instead of an image (Table 1: 3x8)")
    data.add_argument("--coupling", type=float, help="Ising coupling per disagreeing pair (default: Table 1's)")

    model = p.add_argument_group("model")
    model.add_argument("--model", choices=MODELS,
                       help="randomized flow, or a baseline: mean field, or the variational autoregressive network (VAN)")
    model.add_argument("--recipe", choices=tuple(RECIPES),
                       help="the flow's settings (models/flow/recipes.py; the options below override single ones): 'image' "
                       "(the default on images: local randomness, separate regions decide independently), "
                       "'image-stationary' (nothing learned per pixel: samples other images with sample.py), "
                       "'image-global' (one label offset per image: every region follows the same draw), "
                       "'image-untied' (no label tying), 'ising' (the default on --ising: Table 1), 'ising-meanfield' (starts at the "
                       "mean-field solution and its mirror images, then 1 heat-bath sweep: never worse than mean field), "
                       "'paper' (§5 as written)")
    model.add_argument("--samples", type=int, help="flow samples per step m, or the VAN's batch (default: the recipe's, the VAN's own)")
    model.add_argument("--lr", type=float, help="Adam step length (default: the recipe's, the baseline's own)")
    model.add_argument("--omega", choices=("conv", "dense"), help="flow Ω (default: the recipe's)")
    model.add_argument("--kernel-size", type=int, help="conv Ω kernel size, odd (default: the recipe's)")
    model.add_argument("--end-time", type=float, help="flow end time T (default: the recipe's)")
    model.add_argument("--step-size", type=float, help="Euler step h (default: the recipe's)")
    model.add_argument("--omega-variance", type=float, help="initial variance of Ω's weights (default: the recipe's)")
    model.add_argument("--rounding", choices=("argmax", "draw"),
                       help="soft sample → labeling: argmax, or a draw per node with a score-function gradient "
                       "(default: the recipe's)")
    model.add_argument("--anneal", type=float,
                       help="fraction of training over which the energy weight ramps from 0 to 1 (default: the recipe's)")
    model.add_argument("--learn-offset", action="store_true",
                       help="learn the mean of the tied label offset by a score-function term, so mode weights can "
                       "follow an asymmetric data term (experimental, --recipe image-global; follows it only partway)")
    model.add_argument("--start", choices=STARTS,
                       help="flow start S0: softmax(−unary) of the data term, random, or a mean-field solution (default: the recipe's)")
    model.add_argument("--finish", metavar="SPEC", help=f"the P*-invariant sweeps after each flow sample, by kernel: {kernel_help()}. "
                       "'auto': rounds of the recipe's schedule until the convergence check "
                       "passes (the image recipes' default, sw,line,hb); N: N rounds of it; a schedule such as 'sw,line,hb' "
                       "or 'sw,hb,hb': those sweeps once; 'auto:SCHEDULE' or 'N:SCHEDULE'; 'none'")
    model.add_argument("--finish-cap", type=int, help="rounds an automatic finish runs at most (default: the recipe's)")
    model.add_argument("--restarts", type=int, help="mean-field random restarts (default: mean field's own)")

    train = p.add_argument_group("training")
    train.add_argument("--max-steps", type=int, help="optimizer steps, counting resumed ones (default: the recipe's, "
                       f"{RECIPES['image'].max_steps} on images, {RECIPES['ising'].max_steps} on --ising; "
                       f"mean field {BASELINE_MAX_STEPS['meanfield']}, VAN {BASELINE_MAX_STEPS['van']})")
    train.add_argument("--seed", type=int, help="seed of everything")
    train.add_argument("--root-dir", help="runs go to <root-dir>/lightning_logs/version_N/")
    train.add_argument("--resume", metavar="PATH|last", help="checkpoint to continue from; 'last': the newest last.ckpt under --root-dir")
    train.add_argument("--accelerator", help="cpu, gpu, auto, ...")
    train.add_argument("--devices", help="number of devices (or 'auto')")
    train.add_argument("--strategy", help="Lightning strategy, e.g. ddp (the flow's m samples split across processes)")
    train.add_argument("--checkpoint-every", type=int, help="periodic checkpoint every N steps (plus last.ckpt)")
    train.add_argument("--log-every", type=int, help="sample metrics every N steps, images every 2N (default: 50; 100 above 128² pixels, where an evaluation "
                       "costs twice the one at 128² and a training step, on its 128² crop, the same)")
    train.add_argument("--summary-samples", type=int, help="joint samples saved in samples.npy and scored (≥ 64)")
    train.add_argument("--exact", choices=EXACT, help="exact KL / marginal difference when enumerable")
    train.add_argument("--quiet", action="store_true", help="no progress bar (it is also off when stdout is not a terminal)")
    train.add_argument("--threads", type=int, help="CPU threads (default: one per core; idle ones yield the core, run/threads.py)")
    train.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)  # the old switch; the bar is on by default now
    p.set_defaults(**{f.name: f.default for f in fields(RunConfig)})  # one source of defaults: RunConfig
    return p


def add_data_term_options(group) -> None:
    """``--unary`` (a data term of your own) and ``--contrast`` (edges that follow the image); sample.py has them too."""
    from data.defaults import DEFAULT_CONTRAST_FLOOR, PROBABILITY_FLOOR, PROBABILITY_TOLERANCE, UNARY_KINDS  # no torch

    group.add_argument("--unary", metavar="FILE", help="your own data term instead of the colour model: an H×W×c array (.npy, or .npz "
                       "with --unary-key) of per-pixel probabilities, logits or energies for c labels; never resized (--max-size, "
                       "--sigma, --classes do not apply); --image is optional: given, it must be H×W at its own size and gives "
                       "--contrast its colours (the pictures colour the labels either way); --labels takes names "
                       '"road,car,..." (or name=#rrggbb; default class0, class1, ... in a fixed palette)')
    group.add_argument("--unary-kind", choices=UNARY_KINDS, help="what --unary holds: probabilities (unary −log max(p, "
                       f"{PROBABILITY_FLOOR:g}); each pixel's must sum to 1 within {PROBABILITY_TOLERANCE:g}), logits (unary "
                       "−log softmax, i.e. −logits up to a constant per pixel) or energies (as given) (default: probabilities)")
    group.add_argument("--unary-scale", type=float, metavar="T", help="temperature: the --unary data term is divided by T > 0 (default: 1)")
    group.add_argument("--unary-key", metavar="NAME", help="the array of a .npz --unary (default: its only one)")
    group.add_argument("--contrast", type=float, metavar="SIGMA", help="edges that follow the image: weight β·max(floor, "
                       "exp(−‖I_p − I_q‖²/(2 SIGMA²))) per neighbour pair, colours I in RGB [0, 1] (default: β on every edge)")
    group.add_argument("--contrast-floor", type=float, help="the least fraction of β an edge keeps with --contrast, in [0, 1] "
                       f"(default: {DEFAULT_CONTRAST_FLOOR:g})")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` into a :class:`~run.RunConfig` and run it. Returns the exit code.

    Bad input (found while parsing and building, before anything is trained) ends with one line on stderr and
    exit code 2; an exception once training runs is a bug and keeps its traceback.
    """
    wait_passively()  # before torch is imported: runs that share the cores must not spin against each other
    try:
        try:
            config = parse(argv)
        except SystemExit as exit_:  # --help
            return int(exit_.code or 0)
        return run.train(config).exit_code
    except UsageError as err:
        message = " ".join(with_flags(err).split()) or type(err).__name__
        print(f"train.py: error: {message}", file=sys.stderr)
        return 2


def parse(argv: list[str] | None = None) -> RunConfig:
    """The :class:`~run.RunConfig` of a command line (``SystemExit`` after ``--help``)."""
    args = vars(build_parser().parse_args(argv))
    del args["progress"]  # the old switch: the bar is on by default now
    return RunConfig(**args)


def flag(name: str) -> str:
    """The flag of a :class:`~run.RunConfig` field: ``max_steps`` → ``--max-steps``."""
    return "--" + name.replace("_", "-")


# an owner's message names its constructor argument (``sigma must be positive``), the command line shows the
# flag that sets it (``--sigma must be positive``); by owner (:attr:`run.UsageError.owner`)
OWNER_FLAGS = {
    "data": {"labels": "--labels", "classes": "--classes", "sigma": "--sigma", "beta": "--beta", "max_size": "--max-size",
             "coupling": "--coupling", "unary": "--unary", "unary_kind": "--unary-kind", "unary_scale": "--unary-scale",
             "unary_key": "--unary-key", "contrast": "--contrast", "contrast_floor": "--contrast-floor"},
    "model": {
        "samples_per_step": "--samples", "batch_size": "--samples", "lr": "--lr", "omega": "--omega", "kernel_size": "--kernel-size",
        "end_time": "--end-time", "step_size": "--step-size", "omega_variance": "--omega-variance", "variance": "--omega-variance",
        "rounding": "--rounding", "anneal_fraction": "--anneal", "learn_offset_mean": "--learn-offset", "start": "--start",
        "restarts": "--restarts", "recipe": "--recipe", "finish_round": "--finish", "finish_rounds": "--finish", "finish_cap": "--finish-cap",
    },
    "summary": {"samples": "--summary-samples"},
}


def with_flags(err: UsageError) -> str:
    """The message of ``err`` with flags for names: the run's own checks name fields (:func:`flag`); an owner's
    message has each argument name replaced by its flag where it names the argument, i.e. starts the message
    (``sigma must be …``) or is followed by ``=`` (``omega='conv'``, ``classes=300``); a name elsewhere is a
    plain word (``at least 2 labels``) and stays."""
    if err.owner is None:
        return err.message(flag)
    message = str(err)
    for name, option in OWNER_FLAGS[err.owner].items():
        message = re.sub(rf"^{name}(?![\w=])", option, message)
        message = re.sub(rf"(?<![\w-]){name}='?([^',;)\s]*)'?", lambda m: f"{option} {m[1]}", message)
    return message


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
