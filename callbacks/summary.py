"""At the end of training, what a run leaves in its folder (summary.json, samples.npy, marginals.npy, PNGs)
and the run's hyperparameters with its results in TensorBoard's HPARAMS tab."""

from __future__ import annotations

import inspect
import json
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor
from typing_extensions import override

if TYPE_CHECKING:
    from tqdm import tqdm

from callbacks.common import affordable, check_every, input_image, label_info, try_exact, try_kl_lower
from callbacks.evaluation import evaluate, evaluating, noise, reported_figures, seeded_marginals
from callbacks.metrics import convergence_scalars
from energies.exact import MAX_STATES
from energies.sample_stats import sample_marginals
from metrics.coherence import fig1_figures, fig1_labels, pixelwise_samples
from pictures.rendering import (auto_scale, colourise, hex_colour, legend, marginals_figure, overview_figure, palette, save_png, tile,
                               uncertainty_figure)
from metrics.uncertainty import label_changes_from_marginals, pixel_entropy

FILES = (
    "summary.json", "samples.npy", "marginals.npy", "joint_samples.png", "pixelwise_samples.png", "marginals.png",
    "uncertainty.png", "legend.png", "fig1.png", "entropy.npy", "map.png", "overview.png",
)


class RunSummary(Callback):
    """Writes the run's results when training ends (rank zero; under DDP every process draws its share of
    the samples first, and ``samples.npy`` and the figures are of all of them).

    Into ``dirpath`` (default: ``trainer.log_dir``, i.e. ``lightning_logs/version_N/`` with a
    TensorBoard logger, ``default_root_dir`` without a logger):

    * ``summary.json``: labels, image size, steps, seconds (summed over resumed runs), the final
      ``train/*`` scalars, ``convergence`` (the convergence check of the samples, :mod:`models.finish.convergence`: ``converged``
      true or false, the drift and its threshold, the worst statistic, the finish's rounds), figures of the integer samples (``samples``: energy, ``label_changes`` measured over
      all pairs of the samples, the bounds of :mod:`metrics.bounds`, and the plug-in entropy and free energy
      while the samples cover the model's mass, else ``plugin_withheld`` says why), figures of the model's marginals
      (``marginals``: the same ``label_changes`` by the marginal formula, mean and largest pixel entropy
      in nats; see :mod:`metrics.uncertainty`), exact metrics where P* is exact, and the Fig. 1 figures
      (subject coherence, cat share, pixelwise coherence) where the labels are a background and two
      subjects (:func:`metrics.coherence.fig1_labels`);
    * ``samples.npy`` (int32, ``m × H × W``), ``marginals.npy`` (float32, ``H × W × c``);
    * on grids: ``joint_samples.png``, ``pixelwise_samples.png``, ``marginals.png`` (one titled panel
      per label, with a scale bar), ``uncertainty.png`` (entropy of the marginals per pixel, in nats,
      with a colour scale), ``fig1.png`` (first row joint samples, second row pixelwise samples, as in
      Fig. 1), and what a segmentation's user looks for: ``map.png`` (the most probable label per pixel, the
      marginals' argmax, in the label colours, scaled as the samples' PNGs) and ``entropy.npy`` (float32, ``H × W``:
      the entropy behind ``uncertainty.png``); ``overview.png`` (the image beside the most probable label and the
      uncertainty, at the grid's size: where the model is unsure, next to what it saw; with an image); and ``legend.png``.

    With a TensorBoard logger it also logs ``hparams`` (default: the model's) with the run's results
    (``hp/energy``, ``hp/label_changes``, the bounds, and ``hp/free_energy``, ``hp/entropy``, ``hp/kl`` and the
    Fig. 1 figures where they exist) at the final step, for TensorBoard's HPARAMS tab.

    Args:
        samples: number of joint samples saved and scored (≥ 64).
        marginal_samples: flow samples averaged for the marginals (models that take ``m``); ``None``: the samples drawn
            (chains, whose every sample costs its sweeps: ``sample.py --sampler line``).
        extra: more entries for ``summary.json`` (e.g. the command line's arguments).
        hparams: the run's hyperparameters for TensorBoard (primitives; default ``pl_module.hparams``).
        dirpath: where to write (default ``trainer.log_dir``).
        exact_max_states: enumeration limit for the exact metrics.
        seed: seed of the fixed sampling noise.
        progress: makes a bar of ``total`` stages (``progress(total) → tqdm``, e.g. ``run.console.stage_bar``), advanced
            through the evaluation's :data:`STAGES` on rank zero (at 512² they take about a minute); ``None``: no bar.

    Attributes:
        summary: the dict written to ``summary.json`` (``None`` before the end).
        folder: where the files go (known from train start on, on every process).
        written: paths written.
        logged_hparams: ``(params, metrics)`` given to the TensorBoard logger (``None``: none logged).
    """

    def __init__(
        self,
        samples: int = 256,
        marginal_samples: int | None = 4096,
        extra: dict | None = None,
        hparams: dict | None = None,
        dirpath: str | Path | None = None,
        exact_max_states: int = MAX_STATES,
        seed: int = 0,
        progress: Callable[[int], tqdm] | None = None,
    ) -> None:
        super().__init__()
        if check_every("samples", samples) < 64:
            raise ValueError(f"samples must be ≥ 64 (samples.npy holds at least 64), got {samples}")
        self.samples = int(samples)
        self.marginal_samples = None if marginal_samples is None else check_every("marginal_samples", marginal_samples)
        self.extra = dict(extra or {})
        self.hparams = None if hparams is None else dict(hparams)
        self.logged_hparams: tuple[dict, dict] | None = None
        self.dirpath = None if dirpath is None else Path(dirpath)
        self.exact_max_states, self.seed = int(exact_max_states), int(seed)
        self.progress = progress
        self.summary: dict | None = None
        self.folder: Path | None = None
        self.written: list[Path] = []
        self.seconds_before = 0.0  # training time of the runs this one resumed
        self._start: float | None = None

    # -- state: the training time carries over a resume ---------------------------------------
    def elapsed(self) -> float:
        return self.seconds_before + (0.0 if self._start is None else time.perf_counter() - self._start)

    @override
    def state_dict(self) -> dict:
        return {"seconds": self.elapsed()}

    @override
    def load_state_dict(self, state_dict: dict) -> None:
        self.seconds_before = float(state_dict.get("seconds", 0.0))

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        # on every process: ``trainer.log_dir`` is a broadcast under DDP, so rank zero alone must never ask
        self.folder = Path(self.dirpath or trainer.log_dir or trainer.default_root_dir)

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds_this_run = 0.0 if self._start is None else time.perf_counter() - self._start
        self.write(trainer, pl_module, seconds_this_run)

    def write(self, trainer: L.Trainer, pl_module: L.LightningModule, seconds_this_run: float = 0.0) -> dict | None:
        """Draw and score the samples (on every process: a collective under DDP), then write (rank zero,
        which returns the summary; the others return ``None``)."""
        if self.folder is None and trainer.is_global_zero:  # write() called outside fit: one process
            self.folder = Path(self.dirpath or trainer.log_dir or trainer.default_root_dir)
        final = {k.split("/", 1)[1]: _num(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        run = {"steps": int(trainer.global_step), "seconds": round(self.seconds_before + seconds_this_run, 2),
               "seconds_this_run": round(seconds_this_run, 2), "final": final}
        image = input_image(getattr(trainer, "datamodule", None), pl_module.energy.grid)
        summary = self.write_results(pl_module, *label_info(trainer, pl_module), run, rank_zero=trainer.is_global_zero, image=image)
        if summary is not None:
            self.log_hparams(trainer, pl_module, summary)
        return summary

    def write_results(self, pl_module, names: list[str] | None, colours: Tensor | None, run: dict, rank_zero: bool = True,
                      image: Tensor | None = None) -> dict | None:
        """:meth:`write` without a trainer (``sample.py``): the model's samples and figures into :attr:`folder` (or
        ``dirpath``), with ``run``'s entries (steps, seconds, …), the label ``names`` and ``colours``, and the ``(H, W, 3)``
        ``image`` of the data term (``overview.png`` shows it beside the maps)."""
        with _stages(self.progress if rank_zero else None, len(STAGES)) as stage:
            return self._write_results(pl_module, names, colours, run, rank_zero, stage, image)

    def _write_results(self, pl_module, names, colours, run: dict, rank_zero: bool, stage, image: Tensor | None) -> dict | None:
        energy = pl_module.energy
        exact = try_exact(energy, self.exact_max_states) if rank_zero else None
        stage(STAGES[0])
        ev = evaluate(pl_module, self.samples, self.seed, exact)
        if not rank_zero:
            return None
        out = self.folder = Path(self.folder or self.dirpath)
        out.mkdir(parents=True, exist_ok=True)
        colours = palette(pl_module.c, colours)
        grid = energy.grid
        samples = ev.samples
        stage(STAGES[1])
        evals = reported_figures(pl_module, ev, exact, try_kl_lower(energy), self.seed)
        evals.pop("entropy_plugin")  # the uncorrected entropy behind ``entropy``: an intermediate
        if exact is not None:
            evals["exact"] = {"log_z": exact.log_z, "free_energy": -exact.log_z, "entropy": exact.entropy, "mean_energy": exact.mean_energy}
        stage(STAGES[2])
        if self.marginal_samples is None:
            marginals = sample_marginals(samples, pl_module.c).cpu().float()
        else:
            with evaluating(pl_module):
                marginals = seeded_marginals(pl_module, self.marginal_samples, self.seed).cpu().float()
        stage(STAGES[3])
        pixelwise = pixelwise_samples(marginals, len(samples), noise(self.seed, "pixelwise", "cpu"))
        entropy = pixel_entropy(marginals)
        of_marginals = {
            "m": affordable(self.marginal_samples, energy.n) if self.marginal_samples else len(samples),  # as drawn
            "label_changes": label_changes_from_marginals(marginals),
            "pixel_entropy_mean": float(entropy.mean()), "pixel_entropy_max": float(entropy.max()),
            "pixel_entropy_limit": math.log(energy.c),
        }

        summary = {
            "model": type(pl_module).__name__,
            "labels": names if names is not None else [str(a) for a in range(pl_module.c)],
            "label_colours": [hex_colour(col) for col in colours],
            "image_size": list(grid) if grid is not None else None,
            "n": energy.n,
            "c": energy.c,
            **run,
            "samples": {"m": len(samples), **evals},
            "marginals": of_marginals,
            **({"convergence": ev.convergence} if ev.convergence is not None else {}),
            **self.extra,
        }
        if grid is not None and fig1_labels(names, pl_module.c) is not None:
            summary["fig1"] = fig1_figures(samples, marginals, names, pixelwise=pixelwise)

        self.written = []
        shape = (len(samples), *grid) if grid is not None else (len(samples), energy.n)
        self._save(out / "samples.npy", lambda p: np.save(p, samples.reshape(shape).numpy().astype(np.int32)))
        mshape = (*grid, pl_module.c) if grid is not None else (energy.n, pl_module.c)
        self._save(out / "marginals.npy", lambda p: np.save(p, marginals.reshape(mshape).numpy().astype(np.float32)))
        self._save(out / "legend.png", lambda p: save_png(legend(summary["labels"], colours), p))
        if grid is not None:
            scale = auto_scale(grid)
            big = auto_scale(grid, 192)
            show = min(64, len(samples))
            joint_img = colourise(samples[:show], grid, colours)
            pixel_img = colourise(pixelwise[:show], grid, colours)
            self._save(out / "joint_samples.png", lambda p: save_png(tile(joint_img, 8, scale=scale), p))
            self._save(out / "pixelwise_samples.png", lambda p: save_png(tile(pixel_img, 8, scale=scale), p))
            self._save(out / "marginals.png", lambda p: save_png(marginals_figure(marginals, grid, summary["labels"], scale=big), p))
            self._save(out / "uncertainty.png", lambda p: save_png(uncertainty_figure(entropy, grid, pl_module.c, scale=big), p))
            self._save(out / "fig1.png", lambda p: save_png(tile(torch.cat([joint_img[:6], pixel_img[:6]]), 6, pad=2, scale=scale), p))
            self._save(out / "entropy.npy", lambda p: np.save(p, entropy.reshape(grid).numpy().astype(np.float32)))
            self._save(out / "map.png", lambda p: save_png(tile(colourise(marginals.argmax(-1)[None], grid, colours), 1, pad=0, scale=scale), p))
            if image is not None:
                self._save(out / "overview.png", lambda p: save_png(
                    overview_figure(image, marginals.argmax(-1), entropy, colours, grid, pl_module.c, scale=big), p))
        summary["files"] = sorted([p.name for p in self.written] + ["summary.json"])
        self._save(out / "summary.json", lambda p: p.write_text(json.dumps(_jsonable(summary), indent=2) + "\n"))
        self.summary = summary
        return summary

    def log_hparams(self, trainer: L.Trainer, pl_module: L.LightningModule, summary: dict) -> None:
        """The run's hyperparameters with its final figures, for TensorBoard's HPARAMS tab."""
        loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if not loggers:
            return
        s = summary["samples"]
        keys = ("free_energy", "energy", "entropy", "label_changes", "kl", "kl_upper", "kl_lower", "free_energy_upper", "entropy_lower")
        metrics = {f"hp/{k}": s[k] for k in keys if k in s}
        metrics.update({f"hp/{k.split('/', 1)[1]}": v for k, v in convergence_scalars(summary.get("convergence")).items()})
        for k in ("subject_coherence", "cat_share"):
            if k in summary.get("fig1", {}):
                metrics[f"hp/{k}"] = summary["fig1"][k]
        metrics = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
        params = {"model": type(pl_module).__name__, **(self.hparams if self.hparams is not None else dict(pl_module.hparams))}
        params = {k: v for k, v in params.items() if v is not None}
        # the figures at the final step (Lightning ≥ 2.5 takes ``step``; older versions put them at step 0)
        at_step = {"step": trainer.global_step} if "step" in inspect.signature(TensorBoardLogger.log_hyperparams).parameters else {}
        for logger in loggers:
            logger.log_hyperparams(params, metrics, **at_step)
        self.logged_hparams = (params, metrics)

    def _save(self, path: Path, write) -> None:
        """Write next to ``path`` and rename over it, so a crash never leaves a half-written file."""
        tmp = path.with_name(path.stem + ".tmp" + path.suffix)
        write(tmp)
        tmp.replace(path)
        self.written.append(path)


#: what the evaluation at the end of a run does, in order (the progress bar's stages)
STAGES = ("samples", "bounds", "marginals", "files")


@contextmanager
def _stages(progress: Callable[[int], tqdm] | None, total: int):
    """A ``stage(name)`` function that advances the bar ``progress(total)`` makes (nothing without ``progress``)."""
    if progress is None:
        yield lambda name: None
        return
    bar = progress(total)
    started = []

    def stage(name: str) -> None:
        if started:
            bar.update(1)
        started.append(name)
        bar.set_postfix_str(name)

    try:
        yield stage
    finally:
        bar.update(total - bar.n)
        bar.refresh()  # update() skips drawing within tqdm's mininterval: always show the finished count
        bar.close()


def _num(value):
    value = float(value.detach().cpu()) if isinstance(value, Tensor) else float(value)
    return value


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Tensor):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
