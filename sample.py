"""Draw samples from a trained model, on its own image or a new one (no training), or from a Markov chain.

    python sample.py lightning_logs/version_0/checkpoints/last.ckpt                  # its own image again
    python sample.py CHECKPOINT --image coffee.png --samples 512                     # a new photo, no training
    python sample.py --sampler sw --sweeps 50 --image coffee.png          # no model: chains from random labelings
    python sample.py --sampler sw --unary probs.npy                        # your network's probabilities as the data term
    python sample.py CHECKPOINT --image a.png b.png 'photos/*.png' --out results     # many images: results/a, results/b, ...

The results (what a run folder has: ``summary.json``, ``samples.npy``, ``marginals.npy``, ``entropy.npy``, the PNGs)
go to ``--out`` (default: ``samples/<image>`` in the checkpoint's run folder). A flow samples a new image when its
start is stationary (``train.py --recipe image-stationary``): see ``run/sampling.py``. Bad input ends with one line on stderr and
exit code 2.

Several images (more than one ``--image``, or a glob pattern): each image's results go to a folder of its own,
``--out/<image name>`` (``--out`` is then the parent folder; without it, each image's default folder). An image that is
bad input (unreadable, another size than a ``--unary`` takes, …) is reported in one line on stderr and skipped; the
others are sampled. The exit code is 0 when every image was sampled, 2 when any failed (or when the settings shared
by all, e.g. the checkpoint, are bad input: then none is sampled).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from run.errors import UsageError
from run.threads import wait_passively


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: …)`` only where the help text does not say it already and the default is not ``None``."""

    def _get_help_string(self, action):
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from data.defaults import DEFAULT_CONTRAST_FLOOR, PROBABILITY_FLOOR, PROBABILITY_TOLERANCE, UNARY_KINDS  # no torch
    from models.kernels import kernel_help  # no torch
    from run.sampling import SampleConfig

    p = _Parser(prog="sample.py", description=__doc__.split("\n")[0], formatter_class=_Formatter)
    p.add_argument("checkpoint", nargs="?", help="a train.py checkpoint (needed by --sampler flow)")
    p.add_argument("--image", nargs="+", metavar="IMAGE", help="sample this image instead of the checkpoint's (a bare name also resolves "
                   "in data/); several images or a quoted glob pattern ('photos/*.png'): each into its own folder under --out")
    p.add_argument("--labels", help='the new image\'s label colours "name=#rrggbb,..." (default: as the checkpoint\'s)')
    p.add_argument("--classes", type=int, help="the new image's number of k-means colours (default: as the checkpoint's)")
    p.add_argument("--sigma", type=float, help="colour std of the data term (default: the checkpoint's)")
    p.add_argument("--beta", type=float, help="Potts weight (default: the checkpoint's)")
    p.add_argument("--max-size", type=int, help="downscale the longer side to this many pixels, 0: keep (default: the checkpoint's)")
    p.add_argument("--unary", metavar="FILE", help="a data term of your own instead of the colour model: an H×W×c array of per-pixel "
                   "probabilities, logits or energies (.npy, or .npz), never resized; --image is then optional and must be H×W; "
                   "--labels takes names (default: the checkpoint's, else class0, class1, ...)")
    p.add_argument("--unary-kind", choices=UNARY_KINDS, help="what --unary holds: probabilities (unary −log max(p, "
                   f"{PROBABILITY_FLOOR:g}); each pixel's must sum to 1 within {PROBABILITY_TOLERANCE:g}), logits (unary −log softmax) "
                   "or energies (default: the checkpoint's, else probabilities)")
    p.add_argument("--unary-scale", type=float, metavar="T", help="temperature: the --unary data term is divided by T > 0 "
                   "(default: the checkpoint's, else 1)")
    p.add_argument("--unary-key", metavar="NAME", help="the array of a .npz --unary (default: its only one)")
    p.add_argument("--contrast", type=float, metavar="SIGMA", help="edges that follow the image: weight β·max(floor, "
                   "exp(−‖I_p − I_q‖²/(2 SIGMA²))) per neighbour pair (default: the checkpoint's, else β on every edge)")
    p.add_argument("--contrast-floor", type=float, help="the least fraction of β an edge keeps with --contrast, in [0, 1] "
                   f"(default: the checkpoint's, else {DEFAULT_CONTRAST_FLOOR:g})")
    p.add_argument("--samples", type=int, help="samples drawn, saved and scored")
    p.add_argument("--out", help="results folder (default: samples/<image> in the checkpoint's run folder); with several images, "
                   "the folder of their folders")
    p.add_argument("--sampler", metavar="flow|KERNELS", help="the trained flow with its finish, or chains from random labelings "
                   f"of a kernel: {kernel_help()}; or a schedule of them such as sw,hb (default: flow)")
    p.add_argument("--sweeps", type=int, help="how many times the chains run their kernel or schedule")
    p.add_argument("--finish", metavar="SPEC", help="the flow's finish, as train.py --finish: 'auto', N rounds, a schedule "
                   "'sw,line,hb', 'ROUNDS:SCHEDULE' or 'none' (default: the checkpoint's)")
    p.add_argument("--seed", type=int, help="seeds the samples")
    p.add_argument("--device", help="cpu, cuda, ...")
    p.add_argument("--threads", type=int, help="CPU threads (default: one per core; idle ones yield the core, run/threads.py)")
    p.set_defaults(**{f.name: f.default for f in fields(SampleConfig)})
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and sample. Returns the exit code (2 with one line on stderr for bad input; with several images,
    2 when any of them failed)."""
    wait_passively()  # before torch is imported: runs that share the cores must not spin against each other
    try:
        try:
            args = vars(build_parser().parse_args(argv))
        except SystemExit as exit_:  # --help
            return int(exit_.code or 0)
        from run.sampling import SampleConfig, expand_images, sample

        images = args.pop("image") or [None]
        if args["checkpoint"] is None and any(str(image).endswith(".ckpt") for image in images):
            raise UsageError("CHECKPOINT comes before --image, which takes all the words after it as images")
        found = images if images == [None] else expand_images(images)
        if len(found) > 1 or found != images:  # several images, or a pattern: a folder each
            return _sample_many(SampleConfig(**args, image=found[0]), found)
        summary = sample(SampleConfig(**args, image=images[0]))
    except UsageError as err:
        print(f"sample.py: error: {_message(err)}", file=sys.stderr)
        return 2
    for line in _lines(summary):
        print(line)
    return 0


def _sample_many(config, images: list[str]) -> int:
    """Sample each image (:func:`run.sampling.sample_many`) under one progress bar; an image that fails is one line on
    stderr. Returns 0 when all were sampled, else 2."""
    from tqdm import tqdm

    from run import console
    from run.sampling import sample_many

    bar = console.terminal_bar(total=len(images), desc="images", unit="image") if sys.stdout.isatty() else None
    say = (lambda line, file=sys.stdout: tqdm.write(line, file=file)) if bar is not None else print  # lines above the bar
    failed = 0
    try:
        for image, result in sample_many(config, images):
            if isinstance(result, UsageError):
                failed += 1
                say(f"sample.py: error: {image}: {_message(result)}", file=sys.stderr)
            else:
                for line in [f"{image}:", *("  " + line for line in _lines(result))]:
                    say(line)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    print(f"{len(images) - failed} of {len(images)} images sampled" + (f"; {failed} failed and skipped (above)" if failed else ""))
    return 2 if failed else 0


def _lines(summary: dict) -> list[str]:
    """What is printed of one image's summary."""
    from run.report import convergence_line, file_lines

    s = summary["samples"]
    grid = summary.get("image_size")
    lines = [f"{s['m']} samples of a {grid[0]}×{grid[1]} grid by {summary['sampler']} in {summary['seconds']:.1f} s"
             if grid else f"{s['m']} samples by {summary['sampler']} in {summary['seconds']:.1f} s",
             f"energy {s['energy']:.3f}; mean pixel entropy {s.get('pixel_entropy', float('nan')):.3f} nats"]
    if summary.get("convergence"):
        lines.append(convergence_line(summary["convergence"]))
    return [*lines, f"results: {summary['folder']}", *file_lines(summary.get("files", []))]


def _message(err: UsageError) -> str:
    """The one line of ``err``, with the flags for the options it names."""
    message = " ".join(err.message(lambda name: "--" + name.replace("_", "-") if name != "checkpoint" else "CHECKPOINT").split())
    return message or type(err).__name__


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
