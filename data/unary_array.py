"""A data term from an array: your own network's per-pixel probabilities, logits or energies ``(H, W, c)``.

The one place such a file is read. ``np.load`` runs with ``allow_pickle=False``, so loading never runs code: a
pickle, or an array of Python objects, is refused. Arrays are never resized (a resized probability map would no
longer be the network's). Every way a file or its values can be unusable ends in a one-line ``ValueError`` that
starts with the argument it is about (``unary``, ``unary_key``, ``unary_kind``, ``unary_scale``), so the command
line can name the flag, print it and exit with code 2.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from data.defaults import PROBABILITY_FLOOR, PROBABILITY_TOLERANCE, UNARY_KINDS
from data.image_io import MAX_PIXELS


def check_unary_kind(kind: str) -> str:
    """What the array holds: one of :data:`~data.defaults.UNARY_KINDS`."""
    if kind not in UNARY_KINDS:
        raise ValueError(f"unary_kind must be one of {', '.join(UNARY_KINDS)}, got {kind!r}")
    return kind


def check_unary_scale(scale: float) -> float:
    """The temperature ``T`` the unary is divided by: a positive finite number."""
    if isinstance(scale, bool) or not (float(scale) > 0 and math.isfinite(scale)):
        raise ValueError(f"unary_scale must be a positive finite number (a temperature), got {scale}")
    return float(scale)


def read_array(path: str | Path, key: str | None = None) -> np.ndarray:
    """The array in a ``.npy`` file, or the one named ``key`` in a ``.npz`` file (``None``: its only one).

    Raises:
        ValueError: one line, for a missing, empty or unreadable file, a pickle or object array, a ``.npz`` with
            no such key (or several arrays and no key), a key for a ``.npy``, or values that are not numbers.
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"unary file not found: {p}")
    if p.is_dir():
        raise ValueError(f"unary path is a directory, not a file: {p}")
    if p.stat().st_size == 0:
        raise ValueError(f"unary file is empty (0 bytes): {p}")
    try:
        loaded = np.load(p, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                array = loaded[_npz_key(p, loaded.files, key)]
        elif key is not None:
            raise ValueError(f"unary_key {key!r} names an array in a .npz file, but {p} holds one array (.npy)")
        else:
            array = loaded
    except ValueError as err:
        text = str(err)
        if text.startswith("unary"):
            raise
        if "allow_pickle" in text and "Object arrays" in text:
            raise ValueError(f"unary {p} holds an array of Python objects; they are never loaded (unpickling can run code): "
                             "save numbers") from None
        if "allow_pickle" in text:
            raise ValueError(f"unary {p} is not a .npy or .npz file (pickled data are never loaded: unpickling can run code)") from None
        raise ValueError(f"unary {p} cannot be read: {_one_line(err)}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"unary {p} cannot be read: {_one_line(err)}") from None
    return check_numbers(array, str(p))


def check_numbers(array, name: str = "array") -> np.ndarray:
    """``array`` if it is a numpy array of real numbers (a file's, or one handed over in memory).

    Raises:
        ValueError: one line, for anything else (text, objects, booleans, complex numbers, not an array).
    """
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        what = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"unary {name} holds {what} values, not real numbers")
    return array


def unary_from_array(array: np.ndarray, kind: str = "probabilities", scale: float = 1.0, name: str = "array",
                     max_pixels: int | None = MAX_PIXELS) -> Tensor:
    """Unary potentials ``(H, W, c)`` of an array ``(H, W, c)`` (a file's or one in memory), divided by ``scale``: probabilities
    ``−log max(p, PROBABILITY_FLOOR)``, logits ``−log softmax`` (``−logits`` up to each pixel's constant, which P*
    does not see; normalised, they give the probabilities' energy and ignore a network's arbitrary offset per pixel),
    energies as given.

    Args:
        name: how messages name the array (its file).

    Raises:
        ValueError: one line, for values that are not real numbers, another rank, ``c < 2``, more than ``max_pixels``
            pixels, NaN or ±inf, and for probabilities, negative ones or a pixel's not summing to 1 within ``PROBABILITY_TOLERANCE``.
    """
    check_unary_kind(kind)
    scale = check_unary_scale(scale)
    check_numbers(array, name)  # a file's array is checked as it is read; an array in memory here
    if array.ndim != 3:
        raise ValueError(f"unary {name} must be an H × W × c array (c labels per pixel), got shape {tuple(array.shape)}")
    H, W, c = array.shape
    if c < 2:
        raise ValueError(f"unary {name} has {c} label{'s' if c != 1 else ''} in its last axis (shape {tuple(array.shape)}); it needs at least 2")
    if H < 1 or W < 1:
        raise ValueError(f"unary {name} has no pixels (shape {tuple(array.shape)})")
    if max_pixels is not None and H * W > max_pixels:
        raise ValueError(f"unary {name} is {H} × {W} = {H * W:,} pixels, over the limit of {max_pixels:,}; arrays are not resized: "
                         "crop or pool it first")
    x = np.asarray(array, dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"unary {name} has {_count(int(bad.sum()), 'NaN or ±inf value')} (the first at {_where(bad.any(-1))})")
    if kind == "probabilities":
        if (x < 0).any():
            raise ValueError(f"unary {name} has negative probabilities (the lowest {x.min():.6g}, at {_where(x.min(-1) == x.min())}); "
                             "give unary_kind=logits or unary_kind=energies for other scores")
        off = np.abs(x.sum(-1) - 1)
        if off.max() > PROBABILITY_TOLERANCE:
            worst = off == off.max()
            raise ValueError(f"unary {name}: the probabilities of {_count(int((off > PROBABILITY_TOLERANCE).sum()), 'pixel')} do not sum to 1 "
                             f"within {PROBABILITY_TOLERANCE:g} (at {_where(worst)}: {x.sum(-1)[worst][0]:.6g}); "
                             "normalise them, or give unary_kind=logits")
        unary = -np.log(np.maximum(x, PROBABILITY_FLOOR))
    elif kind == "logits":
        top = x.max(-1, keepdims=True)
        unary = -(x - top - np.log(np.exp(x - top).sum(-1, keepdims=True)))  # −log softmax, stable
    else:
        unary = x
    return torch.from_numpy(unary / scale).to(torch.get_default_dtype())


def load_unary(path: str | Path, kind: str = "probabilities", scale: float = 1.0, key: str | None = None,
               max_pixels: int | None = MAX_PIXELS) -> Tensor:
    """:func:`unary_from_array` of :func:`read_array`: the unary ``(H, W, c)`` of a file."""
    return unary_from_array(read_array(path, key), kind, scale, name=str(path), max_pixels=max_pixels)


def _npz_key(p: Path, files: list[str], key: str | None) -> str:
    if not files:
        raise ValueError(f"unary {p} holds no arrays")
    if key is None:
        if len(files) > 1:
            raise ValueError(f"unary {p} holds {len(files)} arrays ({', '.join(files)}): name one with unary_key=NAME")
        return files[0]
    if key not in files:
        raise ValueError(f"unary_key {key!r} is not in {p}, which holds {', '.join(files)}")
    return key


def _where(mask: np.ndarray) -> str:
    """Row and column of the first true pixel of ``mask (H, W)``."""
    r, q = np.argwhere(mask)[0]
    return f"row {r}, column {q}"


def _count(k: int, thing: str) -> str:
    return f"{k} {thing}{'s' if k != 1 else ''}"


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
