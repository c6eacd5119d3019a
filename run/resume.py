"""Continuing a run: which checkpoint (``resume="last"``: the newest), whether it fits this run's model and
data, and which run folder it continues."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from models.flow.recipes import ALIASES, RECIPES
from run.errors import UsageError


def find_last(root_dir: Path) -> Path:
    """The newest ``lightning_logs/version_N/checkpoints/last.ckpt`` under ``root_dir``."""
    found = sorted(
        (root_dir / "lightning_logs").glob("version_*/checkpoints/last.ckpt"),
        key=lambda p: (p.stat().st_mtime, version(p.parent.parent)),
    )
    if not found:
        raise UsageError(lambda n: f"{n('resume')} last: no lightning_logs/version_*/checkpoints/last.ckpt under {root_dir}")
    return found[-1]


def version(folder: Path) -> int:
    """``N`` of a ``version_N`` folder, ``-1`` for any other folder."""
    match = re.fullmatch(r"version_(\d+)", folder.name)
    return int(match.group(1)) if match else -1


def continued_version(ckpt_path: Path, root_dir: Path) -> int | None:
    """The ``version_N`` a checkpoint continues: its own run's, when it lies in
    ``<root_dir>/lightning_logs/version_N/checkpoints/``; ``None`` (a new run folder) otherwise."""
    folder = ckpt_path.resolve().parent.parent
    if ckpt_path.resolve().parent.name == "checkpoints" and folder.parent.resolve() == (root_dir / "lightning_logs").resolve():
        return version(folder) if version(folder) >= 0 else None
    return None


def read_checkpoint(path: Path, option: str = "resume") -> dict:
    """A Lightning checkpoint file as a dict; one-line errors, naming ``option``, for a missing, unreadable or foreign file."""
    if not path.exists():
        raise UsageError(lambda n: f"{n(option)}: checkpoint not found: {path}")
    if path.is_dir():
        raise UsageError(lambda n: f"{n(option)}: {path} is a directory, not a checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # any unpickling failure means "not a checkpoint"
        kind = type(err).__name__
        raise UsageError(lambda n: f"{n(option)}: {path} is not a readable checkpoint ({kind})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "global_step" not in ckpt:
        raise UsageError(lambda n: f"{n(option)}: {path} is not a Lightning checkpoint")
    return ckpt


def check_checkpoint(path: Path, model, datamodule) -> dict:
    """Load ``path`` and check that it is a checkpoint of this model on this energy (one-line errors)."""
    ckpt = read_checkpoint(path)
    saved = ckpt["state_dict"]
    mine = model.state_dict()
    if set(saved) != set(mine) or any(tuple(saved[k].shape) != tuple(mine[k].shape) for k in mine):
        hp = ckpt.get("hyper_parameters", {})
        recipe = ALIASES.get(hp.get("recipe"), hp.get("recipe"))
        if recipe in RECIPES and "recipe" in model.hparams and recipe != model.hparams.recipe:  # both are flows
            raise UsageError(lambda n: f"{n('resume')}: {path} was trained with {n('recipe')} {recipe}; add it to continue")
        raise UsageError(
            lambda n: f"{n('resume')}: {path} holds another model (n={hp.get('n')}, c={hp.get('c')}) than this run's "
            f"{type(model).__name__} (n={model.n}, c={model.c}); check {n('model')}, {n('recipe')}, {n('omega')}, the image, "
            f"{n('max_size')} and the labels"
        )
    dm_state = ckpt.get(type(datamodule).__qualname__)
    if isinstance(dm_state, dict) and "fingerprint" in dm_state and hasattr(datamodule, "check_fingerprint"):
        try:
            datamodule.check_fingerprint(dm_state["fingerprint"])
        except ValueError as err:
            reason = str(err)
            raise UsageError(lambda n: f"{n('resume')}: {reason}") from None
    saved_dm = ckpt.get("datamodule_hyper_parameters")
    if saved_dm is not None and not hasattr(datamodule, "check_fingerprint"):
        mine_dm = dict(datamodule.hparams)
        diff = [k for k in mine_dm if k != "steps_per_epoch" and saved_dm.get(k) != mine_dm[k]]
        if diff:
            settings = ", ".join(f"{k}={saved_dm.get(k)}" for k in diff)
            raise UsageError(lambda n: f"{n('resume')}: checkpoint was trained on another energy ({settings})")
    return ckpt
