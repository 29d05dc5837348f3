"""The Newton machinery of the maximum-likelihood fits (:mod:`sandbox.metrics.utilities`,
:mod:`sandbox.metrics.robust`): the ascent with step halving, and the sum-to-zero basis their
constrained parameters live in."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Objective of the Newton loop: value, gradient, and the positive-definite curvature (the
#: negative Hessian, or the Fisher information for scoring).
Objective = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def centred_basis(k: int) -> np.ndarray:
    """An orthonormal ``k x (k-1)`` basis of the vectors whose entries sum to zero."""
    if k <= 1:
        return np.zeros((k, 0))
    u, _, _ = np.linalg.svd(np.eye(k) - 1.0 / k)
    return u[:, : k - 1]


def maximise(
    fun: Objective, x0: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, float, np.ndarray, int, bool]:
    """Newton ascent with step halving; stops when the Newton decrement, relative to the
    objective, falls below ``tol``.

    Returns:
        The maximiser, the objective there, the curvature there, iterations, converged.
    """
    x = x0.copy()
    value, grad, curv = fun(x)
    if x.size == 0:
        return x, value, curv, 0, True
    for iteration in range(1, max_iter + 1):
        step = np.linalg.solve(curv, grad)
        decrement = float(grad @ step)
        # Relative to the objective: sums of thousands of log-probabilities carry ~1e-13
        # relative rounding, below which steps only chase noise.
        if decrement / 2.0 < tol * (1.0 + abs(value)):
            return x, value, curv, iteration - 1, True
        # Halve until the objective does not fall: Newton can overshoot far from the optimum.
        scale = 1.0
        for _ in range(40):
            candidate = x + scale * step
            c_value, c_grad, c_curv = fun(candidate)
            if np.isfinite(c_value) and c_value >= value - 1e-12 * abs(value):
                break
            scale /= 2.0
        else:
            return x, value, curv, iteration, False
        x, value, grad, curv = candidate, c_value, c_grad, c_curv
    return x, value, curv, max_iter, False
