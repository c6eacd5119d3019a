"""Bad input to a run: one error type for the library and the command line (no torch, no Lightning)."""

from __future__ import annotations

from typing import Callable

Naming = Callable[[str], str]  # an option's field name (``max_steps``) → how a message names it


class UsageError(ValueError):
    """Bad input to a run, found before anything is written (the command line prints it as one line, exit 2).

    Its message names options one of two ways:

    * a check of the run itself names :class:`~run.config.RunConfig` fields through a function, so that
      ``str(err)`` gives the field (``max_steps must be ≥ 1, got 0``) and the command line its flag
      (``err.message(flag)``: ``--max-steps must be ≥ 1, got 0``);
    * a check of an owner (the DataModule, the model, the run summary) is passed on as the owner wrote it,
      naming the owner's constructor arguments (``samples_per_step must be ≥ 2``); ``owner`` says whose
      (``"data"``, ``"model"``, ``"summary"``), so the command line can name the flags that set them.

    Args:
        message: the text, or a function of a :data:`Naming` that writes it.
        owner: whose arguments a plain message names (``None``: none, or not an owner's).
    """

    def __init__(self, message: str | Callable[[Naming], str], owner: str | None = None) -> None:
        self._write = message if callable(message) else (lambda name: message)
        self.owner = owner
        super().__init__(self._write(lambda field: field))

    def message(self, name: Naming) -> str:
        """The message with each option the run's checks name written as ``name(field)``."""
        return self._write(name)
