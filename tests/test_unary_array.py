"""Your own data term (``--unary``: an array of probabilities, logits or energies) and edges that follow the image
(``--contrast``): reading and checking the array, its labels, the weights, the DataModule, train.py and sample.py.
The command line's bad input is in tests/test_train_cli.py's tables."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

import sample
import train
from conftest import TINY
from data.contrast import contrast_weights
from data.data_term import PALETTE, palette, parse_hex, parse_label_names
from data.defaults import PROBABILITY_FLOOR
from data.image_datamodule import ImageDataModule
from data.unary_array import load_unary, read_array, unary_from_array

H, W, C = 4, 5, 3


def _probabilities(seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(0, 2, (H, W, C))
    p = np.exp(logits)
    return p / p.sum(-1, keepdims=True)


def _rgb(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _tiny(root, *extra: str) -> list[str]:
    """train.py's arguments of a tiny run into ``root`` (no --image: the caller gives the data)."""
    return [*extra, "--max-steps", str(TINY["max_steps"]), "--samples", str(TINY["samples"]), "--log-every", str(TINY["log_every"]),
            "--summary-samples", str(TINY["summary_samples"]), "--root-dir", str(root)]


# -- the array -------------------------------------------------------------------------------------------
def test_logits_and_energies_give_the_probabilities_energy(tmp_path):
    p = _probabilities()
    shift = np.random.default_rng(1).normal(0, 5, (H, W, 1))  # a network's arbitrary offset per pixel: softmax ignores it
    np.save(tmp_path / "p.npy", p.astype(np.float32))
    np.savez(tmp_path / "scores.npz", logits=np.log(p) + shift, energies=-np.log(p))
    expected = torch.from_numpy(-np.log(p)).to(torch.get_default_dtype())
    torch.testing.assert_close(load_unary(tmp_path / "p.npy"), expected, atol=1e-5, rtol=1e-5)  # float32 probabilities
    torch.testing.assert_close(load_unary(tmp_path / "scores.npz", "logits", key="logits"), expected)
    torch.testing.assert_close(load_unary(tmp_path / "scores.npz", "energies", key="energies"), expected)
    torch.testing.assert_close(load_unary(tmp_path / "scores.npz", "energies", 2.5, key="energies"), expected / 2.5)  # temperature
    # through the DataModule: the same energy of every labeling
    x = torch.randint(0, C, (50, H * W), generator=torch.Generator().manual_seed(0))
    sources = (("p.npy", "probabilities", None), ("scores.npz", "logits", "logits"), ("scores.npz", "energies", "energies"))
    energies = [ImageDataModule(unary=str(tmp_path / f), unary_kind=kind, unary_key=key, beta=1.5).energy.energy(x) for f, kind, key in sources]
    torch.testing.assert_close(energies[1], energies[0], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(energies[2], energies[0], atol=1e-4, rtol=1e-5)


def test_probabilities_are_floored_and_checked_within_the_tolerance():
    p = _probabilities()
    p[0, 0] = [1.0, 0.0, 0.0]
    p[1, 1] *= 1 + 5e-4  # off 1 by less than the tolerance: kept
    unary = unary_from_array(p)
    assert float(unary[0, 0, 1]) == pytest.approx(-np.log(PROBABILITY_FLOOR))
    p[1, 1] *= 1 + 2e-3
    with pytest.raises(ValueError, match=r"^unary array: the probabilities of 1 pixel do not sum to 1 within 0.001 \(at row 1, column 1"):
        unary_from_array(p)


BAD_ARRAYS = [
    (lambda p: np.where(np.arange(C) == 0, np.nan, p), "probabilities", r"^unary array has 20 NaN or ±inf values \(the first at row 0, column 0"),
    (lambda p: np.where(np.arange(C) == 1, -np.inf, p), "energies", "NaN or ±inf"),
    (lambda p: p - 0.5, "probabilities", "^unary array has negative probabilities"),
    (lambda p: p[..., 0], "probabilities", r"must be an H × W × c array \(c labels per pixel\), got shape \(4, 5\)$"),
    (lambda p: p[None], "probabilities", r"got shape \(1, 4, 5, 3\)"),
    (lambda p: p[..., :1] * 0 + 1, "probabilities", "has 1 label in its last axis"),
    (lambda p: np.full((513, 512, 2), 0.5), "probabilities", "over the limit of 262,144; arrays are not resized"),
]


@pytest.mark.parametrize("make, kind, match", BAD_ARRAYS, ids=["nan", "inf", "negative", "rank 2", "rank 4", "c 1", "too large"])
def test_bad_arrays_are_one_line_errors(make, kind, match):
    with pytest.raises(ValueError, match=match) as caught:
        unary_from_array(make(_probabilities()), kind)
    assert "\n" not in str(caught.value)


def test_bad_files_are_one_line_errors_naming_the_argument(tmp_path):
    np.savez(tmp_path / "two.npz", a=_probabilities(), b=_probabilities(1))
    np.save(tmp_path / "p.npy", _probabilities())
    np.save(tmp_path / "text.npy", np.array([[["a", "b"]]]))
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "garbage.npy").write_text("not an array")
    data = (tmp_path / "p.npy").read_bytes()
    (tmp_path / "truncated.npy").write_bytes(data[: len(data) // 2])
    cases = [
        ("missing.npy", None, "^unary file not found"),
        ("empty.npy", None, "^unary file is empty"),
        ("garbage.npy", None, "^unary .* is not a .npy or .npz file"),
        ("truncated.npy", None, "^unary .* cannot be read"),
        ("text.npy", None, "^unary .* holds <U1 values, not real numbers$"),
        ("two.npz", None, r"^unary .* holds 2 arrays \(a, b\): name one with unary_key=NAME$"),
        ("two.npz", "c", "^unary_key 'c' is not in .*, which holds a, b$"),
        ("p.npy", "a", "^unary_key 'a' names an array in a .npz file"),
    ]
    for name, key, match in cases:
        with pytest.raises(ValueError, match=match) as caught:
            read_array(tmp_path / name, key)
        assert "\n" not in str(caught.value), name
    assert read_array(tmp_path / "two.npz", "b").shape == (H, W, C)


class _Payload:
    """Unpickling this makes the folder ``marker``: a stand-in for any code a pickle can run."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_a_pickle_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "ran"
    objects = np.empty((2, 2, 2), dtype=object)
    objects[0, 0, 0] = _Payload(marker)
    np.save(tmp_path / "objects.npy", objects, allow_pickle=True)
    np.savez(tmp_path / "objects.npz", x=objects)
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps(_Payload(marker)))
    for name, match in (("objects.npy", "an array of Python objects"), ("objects.npz", "an array of Python objects"),
                        ("pickle.npy", "not a .npy or .npz file")):
        with pytest.raises(ValueError, match=f"^unary .*{name} .*{match}.*never loaded"):
            read_array(tmp_path / name)
        assert not marker.exists(), name
    np.load(tmp_path / "objects.npy", allow_pickle=True)  # the control: loaded with pickles allowed, the payload runs
    assert marker.is_dir()


# -- the labels ------------------------------------------------------------------------------------------
def test_label_names_take_palette_colours_where_none_are_given():
    labels = parse_label_names("road, car=#ff0000 ,sky", 3)
    assert labels.names == ("road", "car", "sky")
    torch.testing.assert_close(labels.colours, torch.stack([parse_hex(PALETTE[0]), parse_hex("#ff0000"), parse_hex(PALETTE[2])]))
    default = parse_label_names(None, 4)
    assert default.names == ("class0", "class1", "class2", "class3") and default.hex() == list(PALETTE[:4])
    assert len({tuple(c) for c in palette(25).tolist()}) == 25  # past the fixed palette: more distinct colours
    with pytest.raises(ValueError, match="^labels gives 2 names but the unary array has 3 labels"):
        parse_label_names("road,car", 3)
    with pytest.raises(ValueError, match="^labels names label 'a' twice"):
        parse_label_names("a,a", None)


# -- edges that follow the image -------------------------------------------------------------------------
def test_contrast_weights_against_a_loop_over_the_edges():
    image = torch.from_numpy(_rgb()).double() / 255
    beta, sigma, floor = 1.7, 0.3, 0.2
    wh, wv = contrast_weights(image, beta, sigma, floor)
    assert wh.shape == (H, W - 1) and wv.shape == (H - 1, W)
    for r in range(H):
        for q in range(W):
            for (r2, q2), weights in (((r, q + 1), wh), ((r + 1, q), wv)):
                if r2 < H and q2 < W:
                    d2 = sum(float(image[r, q, k] - image[r2, q2, k]) ** 2 for k in range(3))
                    assert float(weights[r, q]) == pytest.approx(beta * max(floor, np.exp(-d2 / (2 * sigma**2))), rel=1e-6)
    assert float(wh.min()) < beta * 0.99 and float(wh.min()) >= beta * floor  # the control: this image has contrast
    flat = torch.full((H, W, 3), 0.4)
    assert all(torch.equal(w, torch.full_like(w, beta)) for w in contrast_weights(flat, beta, sigma, floor))


@pytest.mark.parametrize("sigma", [0, -1, float("nan"), float("inf")])
def test_a_bad_contrast_is_a_one_line_error(sigma):
    with pytest.raises(ValueError, match=r"^contrast must be a positive finite number \(a colour distance, RGB in \[0, 1\]\), got"):
        contrast_weights(torch.zeros(2, 2, 3), 1.0, sigma, 0.1)
    with pytest.raises(ValueError, match="^contrast must be"):
        ImageDataModule(contrast=sigma)


def test_the_datamodule_gives_the_energy_the_contrast_weights(tmp_path):
    Image.fromarray(_rgb(), "RGB").save(tmp_path / "a.png")
    np.save(tmp_path / "p.npy", _probabilities())
    for dm in (ImageDataModule(image=str(tmp_path / "a.png"), classes=2, contrast=0.2, max_size=None),
               ImageDataModule(unary=str(tmp_path / "p.npy"), image=str(tmp_path / "a.png"), contrast=0.2, contrast_floor=0.05, beta=3.0)):
        wh, wv = contrast_weights(dm.image, dm.hparams.beta, 0.2, dm.hparams.contrast_floor)
        torch.testing.assert_close(dm.energy.weights_h, wh)
        torch.testing.assert_close(dm.energy.weights_v, wv)
    with pytest.raises(ValueError, match="^contrast needs an image"):
        ImageDataModule(unary=str(tmp_path / "p.npy"), contrast=0.2)


# -- train.py and sample.py ------------------------------------------------------------------------------
def test_a_probabilities_array_trains_and_sample_py_rebuilds_its_energy(tmp_path, capsys):
    np.save(tmp_path / "p.npy", _probabilities().astype(np.float32))
    assert train.main(_tiny(tmp_path / "runs", "--unary", str(tmp_path / "p.npy"), "--labels", "road,car=#ff0000,sky")) == 0
    assert "unary       " + str(tmp_path / "p.npy") + " (probabilities)" in capsys.readouterr().out
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    for name in ("summary.json", "samples.npy", "marginals.npy", "joint_samples.png", "marginals.png", "legend.png", "checkpoints/last.ckpt"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["labels"] == ["road", "car", "sky"] and summary["label_colours"] == [PALETTE[0], "#ff0000", PALETTE[2]]
    assert summary["image_size"] == [H, W] and summary["unary"] == str(tmp_path / "p.npy") and summary["image"] is None
    assert np.load(run / "samples.npy").shape == (TINY["summary_samples"], H, W)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    saved = ckpt["datamodule_hyper_parameters"]
    assert [saved[k] for k in ("unary", "unary_kind", "unary_scale", "unary_key")] == [str(tmp_path / "p.npy"), "probabilities", 1.0, None]
    # sample.py rebuilds the same energy from the checkpoint alone
    out = tmp_path / "again"
    assert sample.main([str(run / "checkpoints" / "last.ckpt"), "--samples", "64", "--out", str(out)]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["labels"] == ["road", "car", "sky"] and again["unary"] == str(tmp_path / "p.npy")
    assert np.load(out / "samples.npy").shape == (64, H, W)


def test_logits_in_an_npz_with_the_image_and_contrast_train(tmp_path):
    Image.fromarray(_rgb(), "RGB").save(tmp_path / "a.png")
    np.savez(tmp_path / "net.npz", scores=np.log(_probabilities()))
    extra = ["--unary", str(tmp_path / "net.npz"), "--unary-kind", "logits", "--unary-key", "scores", "--unary-scale", "2",
             "--image", str(tmp_path / "a.png"), "--contrast", "0.2"]
    assert train.main(_tiny(tmp_path / "runs", *extra)) == 0
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["labels"] == ["class0", "class1", "class2"] and summary["image"] == str(tmp_path / "a.png")
    # the checkpoint's settings rebuild the energy it trained on: the same unary and contrast weights
    from run.sampling import SampleConfig, datamodule_of

    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    rebuilt = datamodule_of(SampleConfig(checkpoint=run / "checkpoints" / "last.ckpt"), ckpt["datamodule_hyper_parameters"])
    assert rebuilt.fingerprint() == ckpt["ImageDataModule"]["fingerprint"]
    assert float(rebuilt.energy.weights_h.min()) < float(rebuilt.energy.weights_h.max())  # edges of their own weights


def test_sample_py_runs_chains_on_an_array_without_a_model(tmp_path, capsys):
    np.save(tmp_path / "p.npy", _probabilities())
    assert sample.main(["--sampler", "sw", "--sweeps", "2", "--unary", str(tmp_path / "p.npy"), "--samples", "64",
                        "--out", str(tmp_path / "sw")]) == 0
    assert json.loads((tmp_path / "sw" / "summary.json").read_text())["image_size"] == [H, W]
    capsys.readouterr()
    bad = [(["--unary", str(tmp_path / "p.npy"), "--contrast", "0.1"], "contrast needs an image"),
           (["--unary", str(tmp_path / "p.npy"), "--sigma", "0.1"], "--sigma does not apply to --unary"),
           (["--unary-key", "x", "--image", "cat_lion.png"], "--unary-key applies to --unary only"),
           (["--unary", str(tmp_path / "missing.npy")], "unary file not found")]
    for args, message in bad:
        assert sample.main(["--sampler", "hb", *args, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not (tmp_path / "bad").exists()


def test_a_stationary_flow_samples_a_new_array_with_the_checkpoints_labels(tmp_path):
    np.save(tmp_path / "p.npy", _probabilities())
    extra = ("--unary", str(tmp_path / "p.npy"), "--labels", "road,car,sky", "--recipe", "image-stationary")
    assert train.main(_tiny(tmp_path / "runs", *extra)) == 0
    ckpt = tmp_path / "runs" / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    other = np.random.default_rng(2).dirichlet(np.ones(C), (6, 7))
    np.savez(tmp_path / "other.npz", probs=other)
    assert sample.main([str(ckpt), "--unary", str(tmp_path / "other.npz"), "--samples", "64", "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["image_size"] == [6, 7] and summary["labels"] == ["road", "car", "sky"]
