"""A pointwise confidence band for a Kaplan–Meier curve (Greenwood's variance, log(−log) scale).

:func:`sandbox.metrics.stats.kaplan_meier` gives the curve; :func:`with_band` adds to each of
its points ``ci_low`` and ``ci_high``, a 95% interval of the survival just after ``t``, unless
the curve already carries one (then it is returned as it came).

Greenwood's formula estimates ``Var(log S(t)) = Σ d_i / (n_i (n_i − d_i))`` over the event
times ``t_i <= t`` (``n_i`` at risk, ``d_i`` events). On the log(−log) scale (Kalbfleisch &
Prentice 1980) the interval is ``S(t) ** exp(± z · se)`` with ``se = sqrt(Σ) / |log S(t)|``:
it stays inside [0, 1], where the plain ``S ± z · S · sqrt(Σ)`` does not. Where the estimate is
0 (every unit left at risk had the event) the scale is undefined, and both ends are ``None``.
"""

from __future__ import annotations

import math
from typing import Any

from sandbox.metrics.stats import Survival

#: Normal quantile of the band (95%, two-sided).
Z = 1.959963984540054
BAND = "pointwise 95%, Greenwood variance on the log(-log) scale"


def with_band(survival: Survival, z: float = Z) -> dict[str, Any]:
    """``survival`` with ``ci_low``/``ci_high`` on every curve point and ``band`` naming them.

    Args:
        survival: A Kaplan–Meier estimate (:func:`sandbox.metrics.stats.kaplan_meier`).
        z: Normal quantile of the band.

    Returns:
        A new dict: the same keys, curve points with their interval, and ``band``.
    """
    curve: list[dict[str, Any]] = [dict(point) for point in survival["curve"]]
    if curve and all("ci_low" in point for point in curve):  # the curve has a band already
        return {**survival, "curve": curve}
    total = 0.0
    for point in curve:
        at_risk, events, s = int(point["at_risk"]), int(point["events"]), float(point["survival"])
        left = at_risk - events
        total = total + events / (at_risk * left) if left > 0 else math.inf
        point["ci_low"], point["ci_high"] = _loglog(s, total, z)
    return {**survival, "curve": curve, "band": BAND}


def _loglog(s: float, greenwood: float, z: float) -> tuple[float | None, float | None]:
    """The log(−log) interval of a survival estimate ``s`` with Greenwood sum ``greenwood``."""
    if not 0.0 < s < 1.0 or not math.isfinite(greenwood):
        return None, None
    se = math.sqrt(greenwood) / abs(math.log(s))
    return s ** math.exp(z * se), s ** math.exp(-z * se)
