"""The tiny CPU setup every test shares: one thread, a quiet Trainer, a tiny image, train.py's arguments for a
tiny run, and one tiny run for the checks that only read what a run leaves.

Fixtures: ``tiny_image``, ``argv``, ``tiny_run``, ``tiny_run_stdout``. Plain helpers, imported by the test
modules (``from conftest import LABELS``): ``REPO``, ``LABELS``, ``gen``, ``write_tiny_image``,
``tiny_config``, ``quiet_trainer``.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
LABELS = "background=#000000,cat=#808080,lion=#ffffff"
# a tiny run of train.py: 3 steps, 4 samples a step, a summary of 64 samples
TINY = {"max_steps": 3, "samples": 4, "log_every": 2, "summary_samples": 64}


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny tensors: extra intra-op threads only add contention on a shared machine (a 3-step run of the tiny
    image takes seconds with 2 threads on 2 busy cores, a fraction of a second with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=["compiled", "torch"])
def implementation(request, monkeypatch) -> str:
    """Each kernel test twice: the compiled kernels (``models/kernels/native``; skipped where no C compiler builds them)
    and the torch code."""
    from models.kernels import native

    if request.param == "torch":
        monkeypatch.setenv("RAF_NATIVE", "0")
    else:
        monkeypatch.setenv("RAF_NATIVE", "1")
        if native.library() is None:
            pytest.skip("the compiled kernels cannot be built here (no C compiler with OpenMP)")
    return request.param


def gen(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def quiet_trainer(max_steps: int, **kwargs):
    """A CPU Trainer of ``max_steps`` steps that writes and shows nothing (no logger, checkpoints, progress bar
    or model summary); ``kwargs`` add to or override these."""
    import lightning as L

    settings = dict(max_steps=max_steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    return L.Trainer(**{**settings, **kwargs})


def write_tiny_image(path: Path, h: int = 4, w: int = 5, colours=((0, 0, 0), (128, 128, 128))) -> Path:
    """Save an ``h``×``w`` image at ``path``: the first colour with a block of the second in the middle (the
    subject), and a strip of the third down the right edge if given. The default is dark with a grey subject,
    which :data:`LABELS` names background and cat."""
    arr = np.zeros((h, w, 3), np.uint8) + np.array(colours[0], np.uint8)
    arr[h // 4 : h - h // 4, w // 5 : w - w // 5] = colours[1]
    if len(colours) > 2:
        arr[:, -2:] = colours[2]
    Image.fromarray(arr, "RGB").save(path)
    return Path(path)


@pytest.fixture
def tiny_image(tmp_path) -> Path:
    """The default :func:`write_tiny_image`, 4×5 pixels, at ``tmp_path / "tiny.png"``."""
    return write_tiny_image(tmp_path / "tiny.png")


@pytest.fixture
def argv(tmp_path, tiny_image):
    """``argv(*extra, image=None, steps=3, root="runs", labels=LABELS)``: train.py's arguments for a tiny run of
    ``image`` (default: ``tiny_image``) into ``tmp_path / root``, then ``extra``; ``labels=None`` gives none."""

    def build(*extra: str, image=None, steps: int = TINY["max_steps"], root: str = "runs", labels: str | None = LABELS) -> list[str]:
        samples = [] if "meanfield" in extra else ["--samples", str(TINY["samples"])]  # mean field has no samples per step
        named = ["--labels", labels] if labels else []
        return ["--image", str(image or tiny_image), *named, "--max-steps", str(steps), *samples,
                "--log-every", str(TINY["log_every"]), "--summary-samples", str(TINY["summary_samples"]),
                "--root-dir", str(tmp_path / root), *extra]

    return build


def tiny_config(image: Path, root_dir: Path, **overrides):
    """The :class:`~run.RunConfig` of :func:`tiny_run`'s run: ``image`` with :data:`LABELS`, the :data:`TINY`
    settings and a checkpoint every step, into ``root_dir``; ``overrides`` replace fields."""
    from run import RunConfig

    return RunConfig(**{"image": image, "labels": LABELS, "checkpoint_every": 1, "root_dir": root_dir, **TINY, **overrides})


@pytest.fixture(scope="session")
def _tiny_run(tmp_path_factory):
    import run

    folder = tmp_path_factory.mktemp("tiny_run")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = run.train(tiny_config(write_tiny_image(folder / "tiny.png"), folder / "runs"))
    assert result.exit_code == 0
    return result, out.getvalue()


@pytest.fixture
def tiny_run(_tiny_run):
    """The :class:`~run.RunResult` of one :func:`tiny_config` run (3 steps of the flow on the tiny image), made
    once per session. Read it only; to continue or change it, copy its root (``tiny_run.folder.parents[1]``)."""
    return _tiny_run[0]


@pytest.fixture
def tiny_run_stdout(_tiny_run) -> str:
    """What :func:`tiny_run`'s run printed (stdout is not a terminal: no progress bar)."""
    return _tiny_run[1]
