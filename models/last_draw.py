"""A model's samples with the law of their last random step: the components of the semi-implicit bound.

Many samplers end with a step that draws every node (or a fixed half of them) independently given what came
before: the flow's label draw from ``S(T)``, a mean-field draw, the last heat-bath sweep of the finish. The model
is then a mixture ``P(x) = E_z[q(x | z)]`` over everything before that step, with

    log q(x | z) = Σ_i table_z[i, x_i] + rest(x),

``table_z`` a ``(n, c)`` table of log probabilities that depends on the component ``z`` and ``rest`` a part that
depends on ``x`` alone (the heat-bath sweep's second half-sweep; zero otherwise). That is all the semi-implicit
bound (:mod:`models.flow.kl_bound`) needs to evaluate a sample under its own and under fresh components.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class LastDraw(NamedTuple):
    labels: Tensor  # (m, n) long: sample k drawn from component k
    tables: Tensor  # (m, n, c): component k's table of log probabilities
    rest: Tensor  # (m,): rest(labels[k]), the part of log q(labels[k] | z) no component changes
