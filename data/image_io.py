"""Any image Pillow reads → a float RGB tensor ``(H, W, 3)`` in ``[0, 1]``.

The one place an image file is read. Every way a file can be unusable (missing, a directory, empty,
not an image, truncated, too large) ends in a one-line ``ValueError`` naming the file, so the
command line can print it and exit with code 2.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor

MAX_PIXELS = 512 * 512  # grid size the model trains on, after --max-size; larger is an error

# 16-bit and 32-bit integer modes: scale by the 16-bit range (PNG's deep greyscale opens as I;16 or I)
_DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def target_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """``(width, height)`` after shrinking the longer side to ``max_size`` (never enlarges)."""
    if max_size is None or max(width, height) <= max_size:
        return width, height
    scale = max_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` of an image file as displayed (after its EXIF orientation), read from the header.

    Raises:
        ValueError: one line, for a file Pillow cannot open.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                orientation = img.getexif().get(0x0112, 1)  # 5–8: rotated by 90°, the sides swap
    except (OSError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        raise ValueError(f"cannot read image {path} ({_one_line(err)})") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def load_image(path: str | os.PathLike, max_size: int | None = None, max_pixels: int | None = MAX_PIXELS) -> Tensor:
    """Read an image file as a float RGB tensor.

    Handles RGB, RGBA/LA/PA (alpha flattened onto white), L, 1, P (palette), I;16/I (16-bit, scaled by
    65535), F, CMYK, YCbCr and friends; applies the EXIF orientation.

    Args:
        path: image file.
        max_size: if given, the longer side is downscaled (antialiased) to at most this many pixels.
        max_pixels: limit on ``H·W`` after downscaling; ``None`` disables it.

    Returns:
        ``(H, W, 3)`` float tensor in ``[0, 1]``.

    Raises:
        ValueError: one line, for a missing path, a directory, an empty or unreadable or truncated
            file, or an image over ``max_pixels`` (the message points to ``--max-size``).
    """
    check_max_size(max_size)
    p = Path(path)
    if not p.exists():
        raise ValueError(f"image not found: {p}")
    if p.is_dir():
        raise ValueError(f"image path is a directory, not a file: {p}")
    if p.stat().st_size == 0:
        raise ValueError(f"image file is empty (0 bytes): {p}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                width, height = img.size
                w, h = target_size(width, height, max_size)
                if max_pixels is not None and w * h > max_pixels:
                    raise ValueError(_too_large(p, width, height, w, h, max_pixels, max_size))
                img.load()
                img = ImageOps.exif_transpose(img)
                array = _to_rgb_array(img)
    except Image.DecompressionBombError as err:
        raise ValueError(f"image is too large for Pillow to open safely: {p} ({err}); downscale it first") from None
    except ValueError:
        raise
    except (OSError, SyntaxError, EOFError) as err:  # UnidentifiedImageError is an OSError
        reason = "truncated or corrupt" if "truncated" in str(err).lower() or isinstance(err, (SyntaxError, EOFError)) else "not an image Pillow can read"
        raise ValueError(f"cannot read image {p}: {reason} ({_one_line(err)})") from None
    return _downscaled(torch.from_numpy(array), max_size)


def image_from_array(array, max_size: int | None = None, max_pixels: int | None = MAX_PIXELS, name: str = "array") -> Tensor:
    """An image already in memory (``run.posterior``) as :func:`load_image` gives a file's: ``(H, W, 3)`` RGB, 8-bit
    integers in ``[0, 255]`` or floats in ``[0, 1]``, downscaled to ``max_size`` the same way.

    Raises:
        ValueError: one line, for values that are not real numbers, another shape, values out of range or not
            finite, or an image over ``max_pixels`` after downscaling.
    """
    check_max_size(max_size)
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        what = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"image {name} holds {what} values, not real numbers")
    if array.ndim != 3 or array.shape[-1] != 3 or 0 in array.shape:
        raise ValueError(f"image {name} must be an H × W × 3 RGB array, got shape {tuple(array.shape)}")
    height, width = array.shape[:2]
    w, h = target_size(width, height, max_size)
    if max_pixels is not None and w * h > max_pixels:
        raise ValueError(_too_large(name, width, height, w, h, max_pixels, max_size))
    integers = array.dtype.kind in "iu"
    top = 255 if integers else 1
    x = array.astype(np.float64)
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > top:
        raise ValueError(f"image {name} must hold {'integers in [0, 255]' if integers else 'finite numbers in [0, 1]'}, "
                         f"got values from {x.min():.6g} to {x.max():.6g}")
    return _downscaled(torch.from_numpy((x / top).astype(np.float32)), max_size)


def _downscaled(image: Tensor, max_size: int | None) -> Tensor:
    """``(H, W, 3)`` with its longer side shrunk to ``max_size`` (antialiased), clamped to ``[0, 1]``."""
    h, w = image.shape[:2]
    w, h = target_size(w, h, max_size)
    if (h, w) != tuple(image.shape[:2]):
        image = F.interpolate(image.permute(2, 0, 1)[None], size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        image = image[0].permute(1, 2, 0).contiguous()
    return image.clamp_(0.0, 1.0)


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """``(H, W, 3)`` float32 in ``[0, 1]`` from a loaded Pillow image of any mode."""
    mode = img.mode
    if mode in _DEEP_MODES:
        grey = np.asarray(img, dtype=np.float64) / 65535.0
        return np.repeat(np.clip(grey, 0, 1)[..., None], 3, -1).astype(np.float32)
    if mode == "F":
        grey = np.asarray(img, dtype=np.float64)
        top = grey.max() if grey.size else 1.0
        grey = grey / top if top > 1 else grey
        return np.repeat(np.clip(grey, 0, 1)[..., None], 3, -1).astype(np.float32)
    if mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    rgb = img.convert("RGB")
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _too_large(p: Path | str, width: int, height: int, w: int, h: int, max_pixels: int, max_size: int | None) -> str:
    side = int(max_pixels**0.5)
    now = f"{width}×{height}" if (w, h) == (width, height) else f"{width}×{height} (→ {w}×{h} with max_size={max_size})"
    return f"image {p} is {now} = {w * h:,} pixels, over the limit of {max_pixels:,}; downscale it more, e.g. max_size={min(side, 128)}"


def check_max_size(max_size: int | None) -> int | None:
    """The longest side to downscale to: ``None`` (keep) or an integer ≥ 1."""
    if max_size is not None and (isinstance(max_size, bool) or int(max_size) != max_size or max_size < 1):
        raise ValueError(f"max_size must be an integer ≥ 1, got {max_size}")
    return None if max_size is None else int(max_size)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__

