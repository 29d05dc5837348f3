"""Uncertainty of pairwise utilities that does not lean on the fitted model: the episode bootstrap.

A Thurstonian fit's standard errors come from its Fisher information, which holds only when
every choice is an independent draw from the fitted model. A subject whose utilities or
position bias shift from episode to episode breaks the independence, and those standard errors
are too small. The episode is the unit of replication: :func:`episode_bootstrap` resamples
episodes with replacement and refits, so that what varies between episodes varies between
replicates.

A refit is Thurstone's case V (every spread 1) on the replicate's counts per distinct pair
(:func:`case_v_counts`), warm-started at the full data's estimate: two or three Fisher-scoring
steps, about a millisecond for 31 options. On the full data it gives the same estimate as
:func:`sandbox.metrics.utilities.thurstonian_fit` with ``fit_sigma=False`` and the same ridge.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sandbox.metrics.newton import centred_basis, maximise

_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_Z_CLIP = 37.0
#: Coefficients of Numerical Recipes' ``erfcc`` (fractional error below 1.2e-7 everywhere).
_ERFCC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
          0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)  # fmt: skip


def log_ndtr(z: np.ndarray) -> np.ndarray:
    """log Φ(z) in one array operation (relative error of Φ below 1.2e-7; the far left tail
    is computed in logs, so it neither underflows nor loses precision).

    :func:`sandbox.metrics.utilities.thurstonian_fit` uses ``math.erfc`` element by element;
    this is for the many refits of the bootstrap, where that costs most of the time.
    """
    x = -np.asarray(z, dtype=float) / _SQRT2  # Φ(z) = erfc(x) / 2
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = np.zeros_like(a)
    for c in reversed(_ERFCC):
        poly = poly * t + c
    log_erfc_abs = np.log(t) - a * a + poly  # log erfc(|x|)
    log_erfc = np.where(x >= 0, log_erfc_abs, np.log1p(-0.5 * np.exp(log_erfc_abs)) + math.log(2.0))
    return log_erfc - math.log(2.0)


@functools.lru_cache(maxsize=16)
def _basis(q: int) -> np.ndarray:
    basis = centred_basis(q)
    basis.flags.writeable = False
    return basis


#: Replicates of the episode bootstrap by default, and the seed of its resampling (fixed, so
#: that metrics.json is the same for the same records).
REPLICATES = 200
SEED = 20250


@dataclass(frozen=True, slots=True)
class PairCounts:
    """Forced choices as counts per distinct pair, kept per comparison for resampling.

    Attributes:
        k: Number of options.
        pi: First option of each distinct pair (``pi < pj``).
        pj: Second option of each distinct pair.
        key: Per comparison, the index of its distinct pair.
        low_won: Per comparison, 1.0 when option ``pi`` of its pair won.
        episode: Per comparison, its episode as an index ``0..n_episodes-1``.
        n_episodes: Distinct episodes.
    """

    k: int
    pi: np.ndarray
    pj: np.ndarray
    key: np.ndarray
    low_won: np.ndarray
    episode: np.ndarray
    n_episodes: int

    def totals(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Wins of ``pi`` and trials per distinct pair; ``weights`` counts each episode (a
        bootstrap replicate's multiplicities), one by default."""
        w = np.ones(self.key.size) if weights is None else weights[self.episode]
        size = self.pi.size
        trials = np.bincount(self.key, weights=w, minlength=size)
        wins = np.bincount(self.key, weights=w * self.low_won, minlength=size)
        return wins, trials


def pair_counts(pairs: Sequence[tuple[int, int]], episodes: Sequence[int], k: int) -> PairCounts:
    """Count ``(winner, loser)`` choices by distinct pair; ``episodes`` labels each choice."""
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    lo, hi = arr.min(axis=1), arr.max(axis=1)
    keys, key = np.unique(lo * k + hi, return_inverse=True)
    _, episode = np.unique(np.asarray(episodes, dtype=np.int64), return_inverse=True)
    return PairCounts(
        k=k,
        pi=(keys // k).astype(np.int64),
        pj=(keys % k).astype(np.int64),
        key=key.astype(np.int64).reshape(-1),
        low_won=(arr[:, 0] == lo).astype(float),
        episode=episode.astype(np.int64).reshape(-1),
        n_episodes=int(episode.max(initial=-1)) + 1,
    )


@dataclass(frozen=True, slots=True)
class CaseV:
    """A case-V fit from counts: means centred over the compared options, their covariance
    (the inverse of information plus the prior's precision; NaN rows for absent options)."""

    mu: np.ndarray
    cov: np.ndarray
    iterations: int
    converged: bool


def case_v_counts(
    counts: PairCounts,
    wins: np.ndarray,
    trials: np.ndarray,
    *,
    ridge: float,
    present: np.ndarray | None = None,
    start: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> CaseV:
    """Thurstone's case V, ``P(i over j) = Φ((mu_i - mu_j) / √2)``, fitted to (weighted) counts.

    Args:
        counts: The distinct pairs (only ``pi``, ``pj`` and ``k`` are read).
        wins: Wins of ``pi`` per distinct pair (may be fractional: weights, expectations).
        trials: Trials per distinct pair.
        ridge: Precision of the normal prior on the centred means (the ``ridge`` of
            :func:`sandbox.metrics.utilities.thurstonian_fit`).
        present: The options to fit (default: those with a trial); others are NaN.
        start: Means to start from (a warm start); default all 0.
        max_iter: Fisher-scoring iteration cap.
        tol: Newton-decrement tolerance.
    """
    k = counts.k
    if present is None:
        seen = np.zeros(k, dtype=bool)
        used = trials > 0
        seen[counts.pi[used]] = True
        seen[counts.pj[used]] = True
        present = np.flatnonzero(seen)
    q = present.size
    mu = np.full(k, np.nan)
    cov = np.full((k, k), np.nan)
    if q < 2:
        return CaseV(mu, cov, 0, True)
    local = np.full(k, -1, dtype=np.int64)
    local[present] = np.arange(q)
    keep = (local[counts.pi] >= 0) & (local[counts.pj] >= 0) & (trials > 0)
    pi, pj = local[counts.pi[keep]], local[counts.pj[keep]]
    w, n = wins[keep], trials[keep]
    basis = _basis(q)
    jac = (basis[pi] - basis[pj]) / _SQRT2
    prior = ridge * np.eye(q - 1)

    def objective(phi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        z = np.clip(jac @ phi, -_Z_CLIP, _Z_CLIP)
        log_up, log_down = np.split(log_ndtr(np.concatenate([z, -z])), 2)
        log_pdf = -0.5 * z * z - _LOG_SQRT_2PI
        ll = float(w @ log_up + (n - w) @ log_down)
        d_z = w * np.exp(log_pdf - log_up) - (n - w) * np.exp(log_pdf - log_down)
        fisher = n * np.exp(2.0 * log_pdf - log_up - log_down)
        info = jac.T @ (fisher[:, None] * jac) + prior
        return ll - 0.5 * ridge * float(phi @ phi), jac.T @ d_z - ridge * phi, info

    phi0 = np.zeros(q - 1) if start is None else basis.T @ np.nan_to_num(start[present])
    phi, _, info, iterations, converged = maximise(objective, phi0, max_iter, tol)
    mu[present] = basis @ phi
    cov[np.ix_(present, present)] = basis @ np.linalg.inv(info) @ basis.T
    return CaseV(mu, cov, iterations, converged)


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """Replicates of the case-V means over resampled episodes.

    Attributes:
        mu: ``(R, k)`` means of each replicate (centred; contrasts are what to read).
        replicates: R.
        episodes: Episodes resampled in each replicate.
        seconds: Wall time of all the refits.
        seconds_per_fit: Wall time of one refit.
    """

    mu: np.ndarray
    replicates: int
    episodes: int
    seconds: float
    seconds_per_fit: float

    def contrast_sd(self, weights: dict[int, float], ref: int | None) -> float:
        """Standard deviation over replicates of ``sum(weights[i] * mu[i]) - mu[ref]``
        (``ref`` None: minus the mean of the options)."""
        a = np.zeros(self.mu.shape[1])
        for i, value in weights.items():
            a[i] += value
        if ref is not None:
            a[ref] -= 1.0
        else:
            a -= sum(weights.values()) / a.size
        values = np.nan_to_num(self.mu) @ a
        return float(np.std(values, ddof=1)) if values.size > 1 else math.nan


def episode_bootstrap(
    counts: PairCounts,
    *,
    ridge: float,
    start: np.ndarray,
    replicates: int = REPLICATES,
    seed: int = SEED,
) -> Bootstrap | None:
    """Resample episodes with replacement and refit case V, warm-started at ``start``.

    Returns:
        The replicates, or ``None`` with fewer than two episodes (nothing to resample).
    """
    import time

    g = counts.n_episodes
    if g < 2 or replicates < 2:
        return None
    rng = np.random.default_rng(seed)
    present = np.flatnonzero(np.isfinite(start))
    out = np.full((replicates, counts.k), np.nan)
    began = time.perf_counter()
    for r in range(replicates):
        weights = np.bincount(rng.integers(g, size=g), minlength=g).astype(float)
        wins, trials = counts.totals(weights)
        fit = case_v_counts(counts, wins, trials, ridge=ridge, present=present, start=start)
        out[r] = fit.mu
    seconds = time.perf_counter() - began
    return Bootstrap(out, replicates, g, seconds, seconds / replicates)


def poisson_binomial(p: Sequence[float]) -> np.ndarray:
    """The distribution of a sum of independent Bernoulli(``p[i]``): ``P(count = c)``."""
    dist = np.zeros(len(p) + 1)
    dist[0] = 1.0
    for i, prob in enumerate(p):
        dist[1 : i + 2] = dist[1 : i + 2] * (1.0 - prob) + dist[: i + 1] * prob
        dist[0] *= 1.0 - prob
    return dist
