"""Known-parameter choosers recovered by the conditional logit and the Thurstonian fit."""

from __future__ import annotations

import numpy as np
import pytest

from sandbox.metrics.stats import spearman
from sandbox.metrics.utilities import centred_basis, luce_fit, luce_heldout, thurstonian_fit

TRUE_U = np.array([1.2, 0.5, 0.0, -0.4, -1.3])


def logit_choices(
    rng: np.random.Generator,
    n: int,
    utilities: np.ndarray,
    first_bonus: float,
    menu_size: int = 3,
) -> tuple[list[list[int]], list[int]]:
    """Menus of random categories, choices from a logit with a planted first-listed bonus."""
    menus = rng.integers(0, utilities.size, size=(n, menu_size))
    values = utilities[menus]
    values[:, 0] += first_bonus
    p = np.exp(values - values.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    picks = (rng.random((n, 1)) > p.cumsum(axis=1)).sum(axis=1)
    return menus.tolist(), picks.tolist()


def test_centred_basis_is_orthonormal_and_sums_to_zero():
    basis = centred_basis(5)
    assert basis.shape == (5, 4)
    assert np.allclose(basis.T @ basis, np.eye(4))
    assert np.allclose(basis.sum(axis=0), 0.0)
    assert centred_basis(1).shape == (1, 0)


def test_luce_fit_recovers_planted_utilities_and_position_bias():
    rng = np.random.default_rng(20250101)
    menus, picks = logit_choices(rng, 2000, TRUE_U, first_bonus=0.7)
    fit = luce_fit(menus, picks, TRUE_U.size)
    assert fit.converged and fit.n_choices == 2000
    rho = spearman(fit.utilities, TRUE_U)
    assert rho is not None and rho >= 0.95
    assert fit.utilities.mean() == pytest.approx(0.0, abs=1e-9)
    # Every utility, and the position coefficient, within 3 standard errors of the truth.
    centred = TRUE_U - TRUE_U.mean()
    assert np.all(np.abs(fit.utilities - centred) < 3 * fit.se)
    assert fit.position is not None and fit.position_se is not None
    assert abs(fit.position - 0.7) < 3 * fit.position_se
    assert fit.offered.sum() >= 2000 and fit.chosen.sum() == 2000


def test_luce_fit_of_an_unbiased_chooser_finds_no_position_effect():
    rng = np.random.default_rng(3)
    menus, picks = logit_choices(rng, 2000, TRUE_U, first_bonus=0.0)
    fit = luce_fit(menus, picks, TRUE_U.size)
    assert fit.position is not None and fit.position_se is not None
    assert abs(fit.position) < 1.96 * fit.position_se


def test_luce_fit_handles_varying_menu_sizes_and_uninformative_menus():
    rng = np.random.default_rng(5)
    menus2, picks2 = logit_choices(rng, 800, TRUE_U, 0.3, menu_size=2)
    menus4, picks4 = logit_choices(rng, 800, TRUE_U, 0.3, menu_size=4)
    singles = [[int(c)] for c in rng.integers(0, TRUE_U.size, 50)]
    fit = luce_fit(menus2 + menus4 + singles, picks2 + picks4 + [0] * 50, TRUE_U.size)
    # Single-option menus carry no information about preferences and are left out.
    assert fit.n_choices == 1600
    rho = spearman(fit.utilities, TRUE_U)
    assert rho is not None and rho >= 0.9


def test_luce_fit_flags_categories_at_the_boundary():
    # Category 0 beats 1 three times in four; 2 is on offer but never chosen, so its MLE is
    # minus infinity: it is flagged and left out, and the others are fitted without it.
    menus = [[0, 1]] * 4 + [[1, 0]] * 4 + [[1, 2]] * 4 + [[2, 1]] * 4
    picks = [0, 0, 0, 1] + [1, 1, 1, 0] + [0] * 4 + [1] * 4
    fit = luce_fit(menus, picks, 4)
    assert fit.boundary.tolist() == [False, False, True, False]
    assert np.isnan(fit.utilities[3]) and fit.offered[3] == 0
    assert np.isnan(fit.utilities[2])
    assert fit.utilities[1] < fit.utilities[0]
    # 3 wins in 4 against 1 with no position effect: u0 - u1 = log 3, centred over {0, 1}.
    assert fit.utilities[0] - fit.utilities[1] == pytest.approx(np.log(3), abs=0.05)
    assert np.isfinite(fit.se[:2]).all() and fit.se[0] < 2


def test_luce_fit_without_data_or_with_one_category():
    empty = luce_fit([], [], 3)
    assert empty.n_choices == 0 and np.isnan(empty.utilities).all()
    # One category: utilities are all zero by centring, only the position term is fitted.
    rng = np.random.default_rng(9)
    picks = [0 if rng.random() < 0.6 else 1 for _ in range(500)]
    one = luce_fit([[0, 0]] * 500, picks, 1)
    assert one.utilities.tolist() == [0.0]
    assert one.position == pytest.approx(np.log(0.6 / 0.4), abs=0.25)


def test_luce_fit_rejects_a_choice_outside_its_menu():
    with pytest.raises(ValueError, match="picks option 3 of a menu of 2"):
        luce_fit([[0, 1]], [3])
    with pytest.raises(ValueError, match="one choice per menu"):
        luce_fit([[0, 1]], [0, 1])


def test_luce_heldout_accuracy_beats_chance_for_a_real_preference():
    rng = np.random.default_rng(11)
    menus, picks = logit_choices(rng, 2000, TRUE_U * 2, first_bonus=0.0)
    held = luce_heldout(menus, picks, TRUE_U.size)
    assert held["n"] == 400
    assert held["chance"] == pytest.approx(1 / 3)
    assert isinstance(held["accuracy"], float) and held["accuracy"] > 0.5
    assert luce_heldout(menus[:20], picks[:20])["accuracy"] is None


def thurstone_pairs(
    rng: np.random.Generator, mu: np.ndarray, sigma: np.ndarray, n: int
) -> list[tuple[int, int]]:
    """Forced choices between random pairs, each option's utility drawn N(mu, sigma²)."""
    a = rng.integers(0, mu.size, n)
    b = (a + rng.integers(1, mu.size, n)) % mu.size
    ua = rng.normal(mu[a], sigma[a])
    ub = rng.normal(mu[b], sigma[b])
    return [
        (int(x), int(y)) if u > v else (int(y), int(x))
        for x, y, u, v in zip(a, b, ua, ub, strict=True)
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_thurstonian_fit_recovers_known_means(seed: int):
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 1.0, 10)
    sigma = np.exp(rng.normal(0.0, 0.3, 10))
    fit = thurstonian_fit(thurstone_pairs(rng, mu, sigma, 5000))
    assert fit.converged and fit.n_pairs == 5000
    rho = spearman(fit.mu, mu)
    assert rho is not None and rho >= 0.95
    assert np.nanmean(fit.mu) == pytest.approx(0.0, abs=1e-9)
    assert np.exp(np.mean(np.log(fit.sigma))) == pytest.approx(1.0, abs=1e-9)
    assert fit.accuracy is not None and 0.6 < fit.accuracy < 1.0
    # Fitted probabilities follow the data: the best option beats the worst.
    best, worst = int(np.argmax(mu)), int(np.argmin(mu))
    assert fit.prob(best, worst) > 0.9


def test_thurstonian_case_v_recovers_scaled_means():
    rng = np.random.default_rng(4)
    mu = np.linspace(-1.5, 1.5, 7)
    fit = thurstonian_fit(thurstone_pairs(rng, mu, np.ones(7), 6000), fit_sigma=False)
    assert fit.converged
    assert np.all(fit.sigma == 1.0)
    # With every sigma 1 the means are identified on the true scale.
    assert np.all(np.abs(fit.mu - mu) < 3 * fit.mu_se + 1e-9)


def test_thurstonian_fit_leaves_uncompared_options_empty_and_checks_input():
    fit = thurstonian_fit([(0, 2), (2, 0), (0, 2)], n_options=4)
    assert np.isnan(fit.mu[1]) and np.isnan(fit.mu[3])
    assert fit.mu[0] > fit.mu[2]
    assert np.isnan(thurstonian_fit([]).mu).all()
    with pytest.raises(ValueError, match="two different options"):
        thurstonian_fit([(1, 1)])


def test_clustered_choices_widen_the_standard_errors_by_the_sandwich() -> None:
    # Each episode makes the same choice 9 times: the information of 9 copies, the evidence of
    # one. The sandwich (clusters: episodes) sees it; the inverse information does not.
    rng = np.random.default_rng(1)
    u = np.array([0.8, 0.0, -0.8])
    menus, chosen, groups = [], [], []
    for episode in range(60):
        menu = list(rng.permutation(3)[:2])
        p = np.exp(u[menu]) / np.exp(u[menu]).sum()
        pick = int(rng.random() > p[0])
        for _ in range(9):
            menus.append(menu)
            chosen.append(pick)
            groups.append(episode)
    plain = luce_fit(menus, chosen, 3)
    grouped = luce_fit(menus, chosen, 3, groups=groups)
    assert grouped.n_clusters == 60 and plain.n_clusters == 0
    np.testing.assert_allclose(grouped.utilities, plain.utilities)
    np.testing.assert_allclose(grouped.se_model, plain.se)
    ratio = grouped.se / plain.se
    assert np.all(ratio > 2.3) and np.all(ratio < 3.7), ratio  # about √9 = 3
    # Independent choices: the sandwich agrees with the model, and the wider one is reported.
    one = luce_fit(menus[::9], chosen[::9], 3, groups=groups[::9])
    assert np.all(one.se >= one.se_model) and np.all(one.se_robust / one.se_model < 1.5)
