"""A finish that sweeps until the convergence check passes (or a fixed number of rounds).

A *round* is one :class:`~models.finish.schedule.Finish` (the recipe's schedule of kernels, e.g. ``sw,line,hb``). With
``rounds=None`` (``--finish auto``) the samples get one round, then the state after ``t`` rounds is compared with the
state after ``2t`` (:func:`models.finish.convergence.drift_check`) and ``t`` doubles until the check passes on
:data:`PASSES` windows in a row or ``cap`` rounds are spent. Comparing ``t`` with ``2t`` rounds, not with ``t + 1``, keeps a slow mode visible: what the samples still lack
after ``t`` rounds is mostly made up by ``2t``. Every round leaves P* invariant, so however many run, the samples can only
come closer to P*; the samples returned are the last state (the one after the check's own rounds).

Each call finishes one batch of samples and returns its :class:`FinishReport`; a model that samples in chunks
finishes each chunk on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models.finish import DEFAULT_CAP
from models.finish.convergence import ConvergenceCheck, check_with
from models.finish.schedule import Finish
from models.last_draw import LastDraw

#: windows in a row the check must pass before an automatic finish stops. A slow mode moves little within a short
#: window, and one window in a sequence can pass by chance while the next flags it again: on coffee at 48 px (1,024
#: samples, three noise seeds) the windows 2→4, 4→8 and 8→16 rounds each passed once and were followed by a flag, with
#: the uncertain-pixel TV still 0.019–0.029 against the 0.010 reached at 64 rounds (docs/convergence.md).
PASSES = 2


@dataclass(frozen=True)
class FinishReport:
    """How a batch was finished: rounds and sweeps run, and the last check (``None``: no check, a fixed finish or
    too few samples). ``capped``: the cap was reached before the check passed."""

    rounds: int
    sweeps: int
    check: ConvergenceCheck | None
    capped: bool = False

    @property
    def converged(self) -> bool | None:
        return None if self.check is None else self.check.converged

    @staticmethod
    def merge(reports: list["FinishReport"]) -> "FinishReport | None":
        """One report for a sampling's chunks: the most rounds, and the worst check."""
        if not reports:
            return None
        checks = [r.check for r in reports if r.check is not None]
        worst = min(checks, key=lambda c: (c.converged, -c.drift / max(c.threshold, 1e-12)), default=None)
        return FinishReport(max(r.rounds for r in reports), max(r.sweeps for r in reports), worst, any(r.capped for r in reports))


class AdaptiveFinish:
    """``rounds`` rounds of ``round_`` (a fixed finish), or with ``rounds=None`` rounds until the check passes.

    Args:
        round_: one round of sweeps.
        rounds: a fixed number of rounds (≥ 1), or ``None``: automatic.
        cap: rounds an automatic finish runs at most (≥ 1).
        cap_option: the option that raises the cap, named in the message when it is reached.
    """

    def __init__(self, round_: Finish, rounds: int | None = None, cap: int = DEFAULT_CAP, cap_option: str = "finish_cap") -> None:
        if rounds is not None and (isinstance(rounds, bool) or int(rounds) != rounds or rounds < 1):
            raise ValueError(f"finish rounds must be an integer ≥ 1 or None (automatic), got {rounds!r}")
        if isinstance(cap, bool) or int(cap) != cap or cap < 1:
            raise ValueError(f"finish_cap must be an integer ≥ 1, got {cap!r}")
        self.round, self.rounds, self.cap, self.cap_option = round_, rounds, int(cap), cap_option
        self.energy = round_.energy

    @property
    def automatic(self) -> bool:
        return self.rounds is None

    def schedule(self) -> list[str]:
        """One round's sweeps (see :meth:`models.finish.schedule.Finish.schedule`)."""
        return self.round.schedule()

    def ends_with_draw(self) -> bool:
        return self.round.ends_with_draw()

    def run(self, labels: Tensor, generator: torch.Generator | None = None, rounds: int | None = None,
            cap: int | None = None) -> tuple[Tensor, FinishReport]:
        """Finished labelings ``(m, n)`` and how they were finished. ``rounds``: run that many instead (a number an
        automatic finish found for other samples of the same model); ``cap``: a lower cap for this call."""
        per_round = len(self.schedule())
        rounds = rounds if rounds is not None else self.rounds
        if rounds is not None:
            x = labels
            for _ in range(rounds):
                x = self.round(x, generator)
            return x, FinishReport(rounds, rounds * per_round, None)
        cap = self.cap if cap is None else min(cap, self.cap)
        x, done, check, passes = self.round(labels, generator), 1, None, 0
        while done < cap:
            more = min(done, cap - done)
            x, check = check_with(self.round, self.energy, x, more, generator)
            done += more
            passes = passes + 1 if check is not None and check.converged else 0
            if check is None or passes >= PASSES:
                break
        capped = check is not None and not check.converged
        return x, FinishReport(done, done * per_round, check, capped)

    def __call__(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.run(labels, generator)[0]

    def cap_message(self) -> str:
        """The one line a report prints when the cap was reached."""
        return (f"the finish reached its cap of {self.cap} rounds before the convergence check passed: the samples may not "
                f"follow P*; raise {self.cap_option}")

    def as_draw(self, labels: Tensor, generator: torch.Generator | None = None, rounds: int | None = None,
                cap: int | None = None) -> LastDraw:
        """The finished labelings with the law of their last heat-bath sweep (the entropy bound's components,
        :meth:`models.finish.schedule.Finish.as_draw`); an automatic finish runs one more round for it. ``rounds``,
        ``cap``: as in :meth:`run`."""
        rounds = rounds if rounds is not None else self.rounds
        if rounds is not None:  # the fixed rounds, the last one as the draw
            for _ in range(rounds - 1):
                labels = self.round(labels, generator)
            return self.round.as_draw(labels, generator)
        return self.round.as_draw(self.run(labels, generator, cap=cap)[0], generator)
