"""``run.posterior``: a data term in memory (or files) → marginals, samples, entropy and most probable labels as arrays,
nothing written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import LABELS, write_tiny_image

COLOURS = ((0, 0, 0), (128, 128, 128), (255, 255, 255))


def _image(tmp_path) -> np.ndarray:
    """A 6×8 image of three colours (conftest's tiny image with a strip down the right edge), as uint8."""
    return np.asarray(Image.open(write_tiny_image(tmp_path / "tiny.png", h=6, w=8, colours=COLOURS)))


def _probabilities(image: np.ndarray, spread: float) -> np.ndarray:
    """``(H, W, 3)`` a network's softmax of the pixel's distance to each colour: ``spread`` small is certain."""
    d2 = ((image[..., None, :] / 255.0 - np.array(COLOURS)[None, None] / 255.0) ** 2).sum(-1)
    logits = -d2 / (2 * spread**2)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """An empty current folder; the inputs live beside it (``tmp_path / "in"``)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "cwd"


def test_the_figures_are_those_of_the_samples_and_nothing_is_written(tmp_path, cwd):
    from run import Posterior, posterior

    image = _image(tmp_path / "in")
    p = _probabilities(image, 0.8)  # uncertain: the marginals are no copy of the map
    post = posterior(p, image, contrast=0.3, sweeps=20, samples=64, seed=1)
    assert isinstance(post, Posterior) and post.labels == ("class0", "class1", "class2")
    assert post.samples.shape == (64, 6, 8) and post.samples.dtype == np.int32 and set(np.unique(post.samples)) <= {0, 1, 2}
    assert post.marginals.shape == (6, 8, 3) and post.entropy.shape == post.map.shape == (6, 8)
    np.testing.assert_allclose(post.marginals.sum(-1), 1, atol=1e-6)
    np.testing.assert_allclose(post.marginals, np.eye(3)[post.samples].mean(0), atol=1e-6)  # the samples' shares
    m = post.marginals.astype(np.float64)
    entropy = -np.where(m > 0, m * np.log(np.where(m > 0, m, 1)), 0).sum(-1)
    assert (post.entropy >= 0).all() and 0 < post.entropy.max() <= np.log(3) + 1e-6
    np.testing.assert_allclose(post.entropy, entropy, atol=1e-5)
    np.testing.assert_array_equal(post.map, post.marginals.argmax(-1))
    assert post.convergence is not None and "converged" in post.convergence
    again = posterior(p, image, contrast=0.3, sweeps=20, samples=64, seed=1)
    np.testing.assert_array_equal(again.samples, post.samples)  # the seed fixes the samples
    assert list(cwd.iterdir()) == []


def test_files_give_what_the_same_arrays_give(tmp_path, cwd):
    from run import posterior

    image = _image(tmp_path / "in")
    p = _probabilities(image, 0.8)
    np.save(tmp_path / "in" / "p.npy", p)
    from_files = posterior(tmp_path / "in" / "p.npy", tmp_path / "in" / "tiny.png", contrast=0.3, sweeps=5, samples=16)
    from_arrays = posterior(p, image, contrast=0.3, sweeps=5, samples=16)
    np.testing.assert_array_equal(from_files.samples, from_arrays.samples)
    assert list(cwd.iterdir()) == []


def test_a_certain_map_gives_marginals_at_the_map(tmp_path, cwd):
    from run import posterior

    image = _image(tmp_path / "in")
    truth = _probabilities(image, 0.05).argmax(-1)
    p = np.full((6, 8, 3), 0.001)
    np.put_along_axis(p, truth[..., None], 0.998, -1)
    post = posterior(p, labels="dark,grey,light", beta=0.5, sweeps=20, samples=128)
    assert post.labels == ("dark", "grey", "light")
    np.testing.assert_array_equal(post.map, truth)
    assert np.take_along_axis(post.marginals, truth[..., None], -1).min() > 0.9
    assert post.entropy.mean() < 0.1
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p, img: dict(unary=p[..., :1]), "^unary <array> has 1 label in its last axis"),
        (lambda p, img: dict(unary=p * 2), "do not sum to 1 .* give kind=logits$"),
        (lambda p, img: dict(unary=p.astype(str)), "not real numbers"),
        (lambda p, img: dict(unary=p, kind="scores"), "^kind must be one of probabilities, logits, energies"),
        (lambda p, img: dict(unary=p, scale=0), "^scale must be a positive finite number"),
        (lambda p, img: dict(unary=p, image=img[:5]), "is 6×8 but image <array> is 5×8"),
        (lambda p, img: dict(unary=p, image=img / 1.0), r"^image <array> must hold finite numbers in \[0, 1\]"),
        (lambda p, img: dict(unary=p.tolist()), "^unary must be a numpy array or a path, got list$"),
        (lambda p, img: dict(unary="nothing.npy"), "^unary file not found: nothing.npy$"),
        (lambda p, img: dict(unary=p, samples=1), "^samples must be an integer ≥ 2"),
        (lambda p, img: dict(unary=p, sweeps=0), "^sweeps must be an integer ≥ 1"),
        (lambda p, img: dict(unary=p, labels="a,b"), "labels gives 2 names but the unary array has 3 labels"),
        (lambda p, img: dict(image=img, kind="logits"), "^kind and scale describe unary"),
        (lambda p, img: dict(), "needs image, unary or a checkpoint"),
        (lambda p, img: dict(unary=p, checkpoint="nothing.ckpt"), "not found"),
    ],
)
def test_bad_input_is_a_one_line_value_error(tmp_path, cwd, make, message):
    from run import posterior

    image = _image(tmp_path / "in")
    with pytest.raises(ValueError, match=message) as err:
        posterior(**{"sweeps": 2, "samples": 8, **make(_probabilities(image, 0.8), image)})
    assert "\n" not in str(err.value)
    assert list(cwd.iterdir()) == []


def test_a_checkpoint_samples_a_new_array_with_its_flow(tmp_path, cwd):
    import run

    image = _image(tmp_path / "in")
    result = run.train(run.RunConfig(image=tmp_path / "in" / "tiny.png", labels=LABELS, recipe="image-stationary", max_steps=2,
                                     samples=4, summary_samples=64, root_dir=tmp_path / "in" / "runs", quiet=True))
    post = run.posterior(_probabilities(image, 0.8), checkpoint=result.folder / "checkpoints" / "last.ckpt", samples=16)
    assert post.labels == ("background", "cat", "lion")  # the checkpoint's names
    assert post.samples.shape == (16, 6, 8) and post.marginals.shape == (6, 8, 3)
    assert post.convergence is not None and "finish_rounds" in post.convergence  # the flow's finish
    assert list(cwd.iterdir()) == []
