"""Draw samples from a trained model, on its own image or a new one (no training), or from a Markov chain.

    python sample.py lightning_logs/version_0/checkpoints/last.ckpt                  # its own image again
    python sample.py CHECKPOINT --image coffee.png --samples 512                     # a new photo, no training
    python sample.py --sampler swendsen-wang --sweeps 50 --image coffee.png          # no model: chains from random labelings
    python sample.py --sampler swendsen-wang --unary probs.npy                        # your network's probabilities as the data term

The results (what a run folder has: ``summary.json``, ``samples.npy``, ``marginals.npy``, the PNGs) go to
``--out`` (default: ``samples/<image>`` in the checkpoint's run folder). A flow samples a new image when its
start is stationary (``train.py --recipe image-stationary``): see ``run/sampling.py``. Bad input ends with one line on stderr and
exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from run.errors import UsageError


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
    from run.sampling import SAMPLERS, SampleConfig

    p = _Parser(prog="sample.py", description=__doc__.split("\n")[0], formatter_class=_Formatter)
    p.add_argument("checkpoint", nargs="?", help="a train.py checkpoint (needed by --sampler flow)")
    p.add_argument("--image", help="sample this image instead of the checkpoint's (a bare name also resolves in data/)")
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
    p.add_argument("--out", help="results folder (default: samples/<image> in the checkpoint's run folder)")
    p.add_argument("--sampler", choices=SAMPLERS, help="the trained flow with its finish, or chains from random labelings")
    p.add_argument("--sweeps", type=int, help="the chains' sweeps (--sampler swendsen-wang, heat-bath or line)")
    p.add_argument("--finish", metavar="auto|N", help="the flow's finish: 'auto', rounds until the convergence check passes, "
                   "or N rounds (default: the checkpoint's)")
    p.add_argument("--seed", type=int, help="seeds the samples")
    p.add_argument("--device", help="cpu, cuda, ...")
    p.set_defaults(**{f.name: f.default for f in fields(SampleConfig)})
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and sample. Returns the exit code (2 with one line on stderr for bad input)."""
    try:
        try:
            args = vars(build_parser().parse_args(argv))
        except SystemExit as exit_:  # --help
            return int(exit_.code or 0)
        from run.report import convergence_line
        from run.sampling import SampleConfig, sample

        summary = sample(SampleConfig(**args))
    except UsageError as err:
        message = " ".join(err.message(lambda name: "--" + name.replace("_", "-") if name != "checkpoint" else "CHECKPOINT").split())
        print(f"sample.py: error: {message or type(err).__name__}", file=sys.stderr)
        return 2
    s = summary["samples"]
    print(f"{s['m']} samples of a {summary['image_size'][0]}×{summary['image_size'][1]} grid by {summary['sampler']} in {summary['seconds']:.1f} s"
          if summary.get("image_size") else f"{s['m']} samples by {summary['sampler']} in {summary['seconds']:.1f} s")
    print(f"energy {s['energy']:.3f}; mean pixel entropy {s.get('pixel_entropy', float('nan')):.3f} nats")
    if summary.get("convergence"):
        print(convergence_line(summary["convergence"]))
    print(f"results: {summary['folder']}")
    return 0


if __name__ == "__main__":
    from run.heap import keep_freed_memory

    keep_freed_memory()  # big tensors without page faults on every allocation (run/heap.py)
    sys.exit(main())
