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

Importing ``run`` is light (no torch): :func:`train` and :class:`RunResult` load on first use.
"""

from run.config import RunConfig
from run.errors import UsageError

__all__ = ["RunConfig", "RunResult", "UsageError", "train"]


def __getattr__(name: str):
    if name in ("train", "RunResult"):
        from run import training

        return getattr(training, name)
    raise AttributeError(f"module 'run' has no attribute {name!r}")
