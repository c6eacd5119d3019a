"""What a run prints before and after training: the block that says what it will do, and the report of its
figures and files. Both speak to the user of the command line (they name its flags)."""

from __future__ import annotations

import sys
from pathlib import Path

from pictures.rendering import hex_colour


def describe_run(config, datamodule, model, start_step: int, ckpt_path: Path | None, folder: Path, device: str, processes: int) -> list[str]:
    """The block printed before training: what is trained on what, for how long, and where it goes.

    ``config`` is the run's :class:`~run.config.RunConfig` with ``max_steps`` resolved."""
    lines = []
    grid = datamodule.energy.grid
    if config.ising is not None:
        hp = datamodule.hparams
        lines.append(f"energy      Ising grid {grid[0]}×{grid[1]}, coupling {hp.coupling:g}, field {hp.field:g}")
    elif config.unary is not None:
        hp = datamodule.hparams
        scale = "" if hp.unary_scale == 1 else f", divided by T = {hp.unary_scale:g}"
        lines.append(f"unary       {datamodule.unary_path} ({hp.unary_kind}{scale})")
        lines.append(f"image       {datamodule.image_path or 'none'}")
        lines.append(f"size        {grid[1]}×{grid[0]} pixels (width × height), as is (--unary arrays are not resized)")
    else:
        lines.append(f"image       {datamodule.image_path}")
        width, height = datamodule.original_size
        used = f"{grid[1]}×{grid[0]}"
        max_size = datamodule.hparams.max_size  # None: keep the size
        if (width, height) == (grid[1], grid[0]):
            why = "--max-size 0 keeps it" if max_size is None else f"within --max-size {max_size}"
            lines.append(f"size        {used} pixels (width × height), as is ({why})")
        else:
            lines.append(f"size        {width}×{height} → {used} pixels (width × height; --max-size {max_size}, 0 keeps the size)")
    if config.contrast is not None:
        hp = datamodule.hparams
        lines.append(f"edges       β {hp.beta:g} · max({hp.contrast_floor:g}, exp(−‖ΔI‖²/(2·{hp.contrast:g}²))), "
                     "following the image")
    names = getattr(datamodule, "label_names", None) or [str(a) for a in range(model.c)]
    colours = getattr(datamodule, "label_colours", None)
    if colours is not None:
        labels = ", ".join(f"{_swatch(col)}{name} {hex_colour(col)}" for name, col in zip(names, colours))
        how = " (k-means colours; --labels names them)" if datamodule.hparams.get("classes") is not None else ""
        lines.append(f"labels      {labels}{how}")
    else:
        lines.append(f"labels      {', '.join(names)}")
    lines.append(f"model       {_describe_model(model)}")
    lines.append(f"device      {device}, {processes} process{'es' if processes > 1 else ''}")
    if ckpt_path is None:
        lines.append(f"steps       {config.max_steps}")
    else:
        lines.append(f"steps       {config.max_steps}, continuing from step {start_step} of {ckpt_path}")
    fresh = not (folder / "checkpoints").exists()
    lines.append(f"run folder  {folder}{' (new)' if fresh else ' (continued)'}")
    return [f"train.py: {type(model).__name__} on {model.n} nodes × {model.c} labels", *("  " + line for line in lines)]


def _describe_model(model) -> str:
    hp = model.hparams
    if type(model).__name__ == "MeanField":
        return f"mean field, {hp.restarts} restarts, Adam lr {hp.lr:g}"
    if type(model).__name__ == "VAN":
        return f"VAN (PixelCNN, {hp.blocks} residual blocks × {hp.channels} channels), batch {hp.batch_size}, Adam lr {hp.lr:g}"
    omega = f"{hp.omega} Ω" + (", label-tied" if hp.tie_labels else "")
    if hp.tie_labels:
        omega += ", local randomness" if hp.offset == "region" else ", global randomness"
    return (f"randomized flow (recipe {hp.recipe}), {omega}, m = {hp.samples_per_step} samples per step, T = {hp.end_time:g} in steps of "
            f"{hp.step_size:g}, {hp.rounding} rounding, Adam lr {hp.lr:g} ({hp.lr_schedule})"
            + (f", finish {_rounds(hp)} of {hp.finish_round} (models/kernels/)" if hp.get("finish_round") else ""))


def _rounds(hp) -> str:
    rounds = hp.get("finish_rounds", 1)
    if not rounds:
        return f"rounds until the convergence check passes (at most {hp.get('finish_cap')})"
    return f"{rounds} round{'s' if rounds != 1 else ''}"


def _fmt(value) -> str:
    return "" if value is None else f"{value:.3f}"


def _swatch(colour) -> str:
    """A coloured block in a terminal (24-bit colour), nothing otherwise."""
    if not sys.stdout.isatty():
        return ""
    r, g, b = (int(round(float(v) * 255)) for v in colour)
    return f"\x1b[48;2;{r};{g};{b}m  \x1b[0m "


def convergence_line(check: dict) -> str:
    """One line on the convergence check of a summary (``summary["convergence"]``)."""
    finish = f" after {check['finish_rounds']} finish round{'s' if check['finish_rounds'] != 1 else ''}" if "finish_rounds" in check else ""
    if check.get("converged") is None:
        return f"convergence: not checked{finish} ({check['samples']} samples; the check needs 8 or more)"
    verdict = "passed" if check["converged"] else "FAILED: the samples may not follow P*, sample longer (--finish-cap, --sweeps)"
    line = (f"convergence check {verdict}{finish}: {check['sweeps']} more sweeps moved the statistics by {check['drift']:.2f} "
            f"(noise threshold {check['threshold']:.2f}; worst: {check['statistic']})")
    if check.get("finish_capped"):
        line += "; the finish reached its cap (raise --finish-cap)"
    return line


def report(summary: dict, folder: Path, root: Path | None = None) -> None:
    """Print the run's figures (Fig. 1's where the labels have them, Table 1's where exact) and where its results are."""
    s = summary["samples"]
    seconds = f"{summary['seconds']:.0f} s"
    if summary["seconds"] - summary["seconds_this_run"] >= 1:  # a resumed run: the total, then this session's part
        seconds += f" ({summary['seconds_this_run']:.0f} s this session)"
    print(f"done: {summary['steps']} steps, {seconds}")
    line = f"samples (m={s['m']}): energy {s['energy']:.3f}"
    if "entropy" in s:
        line += f", entropy {s['entropy']:.3f}, free energy {s['free_energy']:.3f}"
    if "kl" in s:
        line += f", KL {s['kl']:.3f}"
    if "marginal_diff" in s:
        line += f", marginal difference {s['marginal_diff']:.3f}"
    print(line)
    bounds = [" ≤ ".join(part for part in (_fmt(s.get(low)), what, _fmt(s.get(high))) if part)
              for low, what, high in (("kl_lower", "KL", "kl_upper"), ("entropy_lower", "entropy", None), (None, "free energy", "free_energy_upper"))
              if low in s or high in s]
    if bounds:
        print("bounds (2 standard errors): " + "; ".join(bounds))
    if "label_changes" in s:
        unit = "pixels" if summary.get("image") or summary.get("unary") else "nodes"
        line = f"label changes between two samples: {s['label_changes']:.1f} of {summary['n']} {unit}"
        marg = summary.get("marginals", {})
        if "pixel_entropy_mean" in marg:
            line += f"; mean entropy per {unit[:-1]} {marg['pixel_entropy_mean']:.3f} nats (at most {marg['pixel_entropy_limit']:.3f})"
        print(line)
    check = summary.get("convergence")
    if check:
        print(convergence_line(check))
    fig = summary.get("fig1")  # present only for labels with a background and two subjects (metrics.coherence.fig1_labels)
    if fig:
        print(
            f"Fig. 1: subject coherence {fig['subject_coherence']:.3f}, {fig['cat_label']} share {fig['cat_share']:.3f}, "
            f"pixelwise coherence {fig['pixelwise_coherence']:.3f} ({fig['subject_pixels']} subject pixels)"
        )
    print(f"run folder: {folder}")
    for line in file_lines(summary.get("files", [])):
        print(line)
    if (folder / "checkpoints" / "last.ckpt").exists():
        print(f"  {'checkpoints/last.ckpt':<22}continue with --resume last and a higher --max-steps")
    logs = folder.parent if root is None else root / "lightning_logs"
    print(f"TensorBoard: tensorboard --logdir {logs}")


def file_lines(files) -> list[str]:
    """One line per result file in ``files`` that :data:`RESULT_FILES` describes, in its order: name, then what it holds."""
    present = set(files)
    return [f"  {name:<22}{what}" for name, what in RESULT_FILES if name in present]


# what report() and sample.py list, in this order, when the run wrote it
RESULT_FILES = (
    ("summary.json", "every figure of the run"),
    ("overview.png", "the image beside the most probable label and the uncertainty"),
    ("fig1.png", "joint samples (top row) and pixelwise-independent samples (bottom row)"),
    ("joint_samples.png", "samples of the model"),
    ("pixelwise_samples.png", "each pixel drawn on its own from the same marginals"),
    ("marginals.png", "P(label) per pixel, one panel per label"),
    ("uncertainty.png", "entropy of the marginals per pixel, in nats"),
    ("map.png", "the most probable label per pixel (the marginals' argmax), in the label colours"),
    ("legend.png", "the label colours"),
    ("samples.npy", "the samples (int32, m × H × W); marginals.npy: the marginals (H × W × c)"),
    ("entropy.npy", "entropy of the marginals per pixel (float32, H × W, nats), as in uncertainty.png"),
)
