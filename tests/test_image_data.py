"""Images in: file modes, downscaling, bad files; the data term; the image DataModule; the bundled image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from data import DEFAULT_IMAGE, DEFAULT_LABELS, ImageDataModule, gaussian_unary, kmeans_labels, load_image, parse_labels
from data.data_term import kmeans_colours, parse_hex
from data.image_io import target_size
from data.make_cat_lion import BACKGROUND, CAT, LION, SUBJECT, draw, silhouette


def _rgb(h=6, w=8, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# -- image modes ---------------------------------------------------------------------------------------
def test_rgb_roundtrip(tmp_path):
    arr = _rgb()
    Image.fromarray(arr, "RGB").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.shape == (6, 8, 3) and img.dtype == torch.float32
    assert torch.allclose(img, torch.from_numpy(arr).float() / 255)


def test_rgba_flattened_on_white(tmp_path):
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[..., 0] = 255  # red
    arr[0, 0, 3] = 0  # fully transparent → white
    arr[0, 1, 3] = 255  # opaque → red
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert torch.allclose(img[0, 0], torch.ones(3))
    assert torch.allclose(img[0, 1], torch.tensor([1.0, 0, 0]))


def test_greyscale_and_palette(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    img = load_image(tmp_path / "l.png")
    assert img.shape == (3, 4, 3) and torch.allclose(img[..., 0], img[..., 2])
    assert torch.allclose(img[..., 1], torch.from_numpy(grey).float() / 255)
    pal = Image.fromarray(_rgb(5, 5), "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    pal.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (5, 5, 3)


def test_16bit_scaled_not_clipped(tmp_path):
    deep = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")  # opens as I;16 (or I)
    img = load_image(tmp_path / "d.png")
    assert torch.allclose(img[0, :, 0], torch.from_numpy(deep[0].astype(np.float32) / 65535), atol=1e-6)


def test_one_pixel(tmp_path):
    Image.fromarray(np.array([[[10, 20, 30]]], np.uint8), "RGB").save(tmp_path / "one.png")
    assert load_image(tmp_path / "one.png", max_size=4).shape == (1, 1, 3)


def test_exif_rotation(tmp_path):
    img = Image.fromarray(_rgb(2, 4), "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").shape == (4, 2, 3)


def test_max_size_downscales_longer_side(tmp_path):
    Image.fromarray(_rgb(30, 60), "RGB").save(tmp_path / "big.png")
    assert load_image(tmp_path / "big.png", max_size=20).shape == (10, 20, 3)
    assert load_image(tmp_path / "big.png", max_size=100).shape == (30, 60, 3)  # never enlarges
    assert target_size(60, 30, 1) == (1, 1)


# -- bad files: one-line ValueErrors -------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p, "not found"),
        (lambda p: (p.mkdir(), p)[1], "directory"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty"),
        (lambda p: (p.write_text("hello, not a picture"), p)[1], "cannot read image"),
    ],
    ids=["missing", "directory", "zero-bytes", "not-an-image"],
)
def test_bad_files(tmp_path, make, match):
    path = make(tmp_path / "x.png")
    with pytest.raises(ValueError, match=match) as info:
        load_image(path)
    assert "\n" not in str(info.value)


def test_truncated_png(tmp_path):
    Image.fromarray(_rgb(64, 64), "RGB").save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot read image"):
        load_image(tmp_path / "t.png")


def test_pixel_limit_points_to_max_size(tmp_path):
    Image.fromarray(_rgb(40, 50), "RGB").save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="max_size"):
        load_image(tmp_path / "a.png", max_pixels=1000)
    assert load_image(tmp_path / "a.png", max_size=20, max_pixels=1000).shape == (16, 20, 3)


# -- data term -----------------------------------------------------------------------------------------
def test_parse_labels_default():
    labels = parse_labels(DEFAULT_LABELS)
    assert labels.names == ("background", "cat", "lion")
    assert labels.hex() == ["#2f4f2f", "#8c8c8c", "#d2a03c"]
    assert parse_labels(labels.spec()).names == labels.names
    assert torch.allclose(parse_hex("#fff"), torch.ones(3))


@pytest.mark.parametrize(
    "spec, match",
    [
        ("a=#12345g,b=#000000", "bad colour"),
        ("a=#000000,a=#ffffff", "twice"),
        ("a=#000000", "at least 2"),
        ("a#000000,b=#ffffff", "name=#rrggbb"),
        ("=#000000,b=#ffffff", "label names"),
        ("", "empty"),
        ("a=#000000,,b=#ffffff", "empty entry"),
    ],
)
def test_parse_labels_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_labels(spec)


def test_gaussian_unary():
    image = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    colours = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    u = gaussian_unary(image, colours, sigma=0.5)
    assert u.shape == (1, 2, 2)
    assert torch.allclose(u[0], torch.tensor([[0.0, 6.0], [6.0, 0.0]]))  # 3 / (2·0.25)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_unary(image, colours, sigma=0)


def test_kmeans_finds_the_colours():
    a, b = torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.9, 0.8, 0.1])
    image = torch.stack([a] * 10 + [b] * 6).reshape(4, 4, 3) + 0.01 * torch.randn(4, 4, 3, generator=torch.Generator().manual_seed(0))
    colours = kmeans_colours(image, 2, seed=0)
    assert torch.allclose(colours[0], a, atol=0.02) and torch.allclose(colours[1], b, atol=0.02)
    assert kmeans_labels(image, 2).names == ("class0", "class1")
    with pytest.raises(ValueError, match="distinct colours"):
        kmeans_colours(torch.zeros(1, 1, 3), 2)
    with pytest.raises(ValueError, match="classes"):
        kmeans_colours(image, 1)


# -- DataModule ----------------------------------------------------------------------------------------
def test_datamodule_labels_and_classes(tmp_path):
    Image.fromarray(_rgb(5, 7), "RGB").save(tmp_path / "a.png")
    dm = ImageDataModule(str(tmp_path / "a.png"), labels="x=#000000,y=#ffffff", beta=0.5)
    e = dm.energy
    assert (e.n, e.c, e.grid) == (35, 2, (5, 7)) and dm.label_names == ["x", "y"]
    assert float(e.weights_h[0, 0]) == 0.5
    dm3 = ImageDataModule(str(tmp_path / "a.png"), classes=3)
    assert dm3.energy.c == 3 and dm3.label_names == ["class0", "class1", "class2"]
    assert dm3.fingerprint() == ImageDataModule(str(tmp_path / "a.png"), classes=3).fingerprint()
    with pytest.raises(ValueError, match="labels"):
        dm3.check_fingerprint(dm.fingerprint())
    Image.fromarray(_rgb(4, 7), "RGB").save(tmp_path / "b.png")
    with pytest.raises(ValueError, match="4×7 image"):
        dm.check_fingerprint(ImageDataModule(str(tmp_path / "b.png"), labels="x=#000000,y=#ffffff").fingerprint())
    with pytest.raises(ValueError, match="another energy"):
        dm.check_fingerprint(ImageDataModule(str(tmp_path / "a.png"), labels="x=#000000,y=#ffffff", beta=0.6).fingerprint())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(labels="a=#000000,b=#ffffff", classes=2), "not both"),
        (dict(classes=1), "classes"),
        (dict(sigma=0.0), "sigma"),
        (dict(beta=-1.0), "beta"),
        (dict(beta=float("nan")), "beta"),
        (dict(max_size=0), "max_size"),
    ],
)
def test_datamodule_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageDataModule(**kwargs)


# -- the bundled image ---------------------------------------------------------------------------------
def test_bundled_image_is_what_the_script_draws():
    image = np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB"))
    assert np.array_equal(image, draw(*image.shape[:2]))
    assert SUBJECT == tuple((a + b) / 2 for a, b in zip(CAT, LION))
    assert parse_labels(DEFAULT_LABELS).hex() == ["#" + "".join(f"{v:02x}" for v in col) for col in (BACKGROUND, CAT, LION)]


def test_bundled_image_cat_and_lion_have_equal_data_term():
    dm = ImageDataModule()
    assert dm.energy.grid == (24, 24)  # not downscaled by the default --max-size
    unary = dm.energy.unary
    mask = torch.from_numpy(silhouette(*dm.energy.grid))
    cat, lion = unary[mask][:, 1].double().sum(), unary[mask][:, 2].double().sum()
    assert abs(float(cat - lion)) < 1e-6 * float(cat)
    total = unary.double().sum((0, 1))
    assert abs(float(total[1] - total[2])) > 0  # the background itself is not symmetric, only the subject
    assert float((unary[mask][:, 0] - unary[mask][:, 1]).min()) > 5  # the subject is clearly not background


def test_without_labels_the_bundled_image_gets_its_own_and_any_other_image_k_means_colours(tmp_path):
    assert ImageDataModule().label_names == ["background", "cat", "lion"]
    assert ImageDataModule(image=str(DEFAULT_IMAGE)).label_names == ["background", "cat", "lion"]
    Image.fromarray(_rgb(12, 16, seed=3), "RGB").save(tmp_path / "photo.png")
    photo = ImageDataModule(image=str(tmp_path / "photo.png"))
    assert photo.label_names == ["class0", "class1", "class2"] and photo.hparams.classes == 3
    # the same colours as asking for 3 classes (no cat/lion colours on a photo)
    asked = ImageDataModule(image=str(tmp_path / "photo.png"), classes=3)
    torch.testing.assert_close(photo.label_colours, asked.label_colours)
