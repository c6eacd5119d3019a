"""One run of training, the one code path of ``train.py`` and the benchmarks::

    from run import RunConfig, train

    result = train(RunConfig(image="photo.jpg", classes=3, max_steps=200, root_dir="runs"))
    result.folder, result.summary, result.exit_code

``config`` (:class:`RunConfig`: every option of ``train.py`` by the same name) → ``build`` (DataModule, model,
callbacks, Trainer; bad input is a :class:`UsageError` before anything is written; ``resume``: continuing a
checkpoint) → ``training`` (:func:`train` → :class:`RunResult`). What the run shows and leaves: ``report``
(the pre-run block and the closing report), ``console`` (progress bar, library-noise filters), and the
Trainer plugins ``logger`` (TensorBoard without the epoch chart) and ``checkpoint_io`` (atomic checkpoint
files).

Sampling without training: ``sampling`` (``sample.py``: :func:`~run.sampling.sample` writes a run folder's files) and
``inference`` (:func:`posterior` → :class:`Posterior`: marginals, samples, entropy and most probable labels as
arrays, nothing written)::

    from run import posterior

    post = posterior(probabilities)  # (H, W, c)

Importing ``run`` is light (no torch): :func:`train`, :class:`RunResult`, :func:`posterior` and :class:`Posterior`
load on first use.
"""

from run.config import RunConfig
from run.errors import UsageError

__all__ = ["Posterior", "RunConfig", "RunResult", "UsageError", "posterior", "train"]

_LAZY = {"train": "training", "RunResult": "training", "posterior": "inference", "Posterior": "inference"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"run.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'run' has no attribute {name!r}")
