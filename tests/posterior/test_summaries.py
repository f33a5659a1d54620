"""Result tables and diagnostics on fake posteriors built with a seeded generator."""

import numpy as np
import pytest
import xarray as xr

from pss_bayes.posterior.diagnostics import diagnose
from pss_bayes.posterior.summaries import (coclustering_matrix, effects_table, hdi, membership_table,
                                           module_effects_table, n_subgroups_table)


def fake_posterior(rng, chains=4, draws=500, n=30, k=3, J=4, M=2, disagree=False, nan_draws=0):
    truth = rng.dirichlet(np.full(k, 0.2), size=n)
    member = np.clip(truth + rng.normal(0, 0.02, (chains, draws, n, k)), 1e-4, None)
    if disagree:
        member[0] = member[0][..., ::-1]
    member /= member.sum(-1, keepdims=True)
    effect = rng.normal([[1.5], [0.0], [-1.0]], 0.2, (chains, draws, k, J))
    module = rng.normal(0, 0.2, (chains, draws, k, M)) + np.array([[2.0, 0.0], [0, 0], [0, -1]])
    weight = rng.dirichlet([5, 3, 2], (chains, draws))
    n_sub = np.full((chains, draws), k)
    for arr in (member, effect, module, weight):
        arr[:, :nan_draws] = np.nan
    n_sub[:, :nan_draws] = k + 1
    coords = {"chain": range(chains), "draw": range(draws), "subgroup": ["1", "2", "3"],
              "biomarker": [f"b{j}" for j in range(J)], "module": ["ifn", "bcell"],
              "subject": [f"P{i}" for i in range(n)]}
    cd = ("chain", "draw")
    post = xr.Dataset({
        "membership": (cd + ("subject", "subgroup"), member),
        "effect": (cd + ("subgroup", "biomarker"), effect),
        "module_effect": (cd + ("subgroup", "module"), module),
        "weight": (cd + ("subgroup",), weight),
        "n_subgroups": (cd, n_sub),
        "baseline": (cd + ("biomarker",), rng.normal(0, 0.1, (chains, draws, J))),
        "sigma": (cd + ("biomarker",), 1 + rng.normal(0, 0.05, (chains, draws, J)) ** 2),
    }, coords=coords)
    stats = xr.Dataset({"log_likelihood": (cd, rng.normal(-100, 2, (chains, draws))),
                        "relabelled": (cd, ~np.isnan(weight[..., 0])),
                        "diverging": (cd, np.zeros((chains, draws), bool))},
                       coords={"chain": range(chains), "draw": range(draws)})
    return post, stats, truth


def test_hdi_of_normal_sample():
    x = np.random.default_rng(0).normal(size=(40000, 2))
    lo, hi = hdi(x, 0.94)
    assert lo == pytest.approx([-1.88, -1.88], abs=0.05)
    assert hi == pytest.approx([1.88, 1.88], abs=0.05)


def test_membership_table_columns_and_values():
    rng = np.random.default_rng(0)
    post, _, truth = fake_posterior(rng)
    table = membership_table(post)
    expected = ["subject_id", "subgroup", "p_max", "entropy"] + [
        f"p_{k}{s}" for k in (1, 2, 3) for s in ("", "_lo", "_hi")]
    assert list(table.columns) == expected
    probs = table[["p_1", "p_2", "p_3"]].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-6)
    assert (table["subgroup"].to_numpy() == truth.argmax(1) + 1).mean() > 0.9
    assert (table["p_1_lo"] <= table["p_1"]).all() and (table["p_1"] <= table["p_1_hi"]).all()
    assert (table["entropy"] >= 0).all() and (table["entropy"] <= np.log(3) + 1e-9).all()


def test_certain_membership_has_entropy_zero_not_minus_zero():
    post, _, _ = fake_posterior(np.random.default_rng(1))
    post["membership"][:] = 0.0
    post["membership"][..., 0] = 1.0
    entropy = membership_table(post)["entropy"].to_numpy()
    assert (entropy == 0.0).all() and not np.signbit(entropy).any()


def test_effect_tables_ignore_dropped_draws():
    rng = np.random.default_rng(1)
    post, _, _ = fake_posterior(rng, nan_draws=100)
    eff = effects_table(post, np.array(["ifn", "ifn", "bcell", "bcell"]), np.array([False] * 3 + [True]))
    assert list(eff.columns) == ["subgroup", "biomarker", "module", "scale", "mean", "sd", "hdi_lo",
                                 "hdi_hi", "p_above_controls"]
    assert len(eff) == 12 and eff["mean"].notna().all()
    first = eff[eff.subgroup == 1]
    assert first["mean"].to_numpy() == pytest.approx(1.5, abs=0.05)
    assert (first["p_above_controls"] > 0.99).all()
    assert (eff["scale"] == np.tile(["control SD"] * 3 + ["log-odds"], 3)).all()
    mod = module_effects_table(post, np.array(["ifn", "ifn", "bcell", "bcell"]),
                               np.array([False, False, False, True]))
    assert set(mod.loc[mod.module == "bcell", "scale"]) == {"mixed"}
    assert set(mod.loc[mod.module == "ifn", "scale"]) == {"control SD"}
    row = mod[(mod.subgroup == 3) & (mod.module == "bcell")].iloc[0]
    assert row["hdi_lo"] < -1 < row["hdi_hi"] and row["p_above_controls"] < 0.01


def test_n_subgroups_and_coclustering():
    rng = np.random.default_rng(2)
    post, _, truth = fake_posterior(rng, nan_draws=125)
    k = n_subgroups_table(post)
    assert k.set_index("k")["probability"].to_dict() == pytest.approx({3: 0.75, 4: 0.25})
    co = coclustering_matrix(post)
    assert co.shape == (30, 30) and np.allclose(co.to_numpy(), co.to_numpy().T)
    same = truth.argmax(1)[:, None] == truth.argmax(1)[None, :]
    assert co.to_numpy()[same].mean() > co.to_numpy()[~same].mean()


def test_diagnostics_clean_and_disagreeing_chains():
    rng = np.random.default_rng(3)
    post, stats, _ = fake_posterior(rng)
    good = diagnose(post, stats)
    assert good.chains_agree and good.divergences == 0
    assert good.max_rhat < 1.01 and good.min_ess_bulk > 400 and good.converged
    post, stats, _ = fake_posterior(rng, disagree=True)
    bad = diagnose(post, stats)
    assert not bad.converged and not bad.chains_agree
    assert any("memberships" in w for w in bad.warnings)


def test_diagnostics_flags_divergences_and_k_disagreement():
    rng = np.random.default_rng(4)
    post, stats, _ = fake_posterior(rng)
    stats["diverging"][0, :3] = True
    post["n_subgroups"][1] = 4
    diag = diagnose(post, stats)
    assert diag.divergences == 3 and not diag.converged
    assert any("number of subgroups" in w for w in diag.warnings)


def test_slowly_mixing_number_of_subgroups_is_explained_with_each_chains_share():
    rng = np.random.default_rng(7)
    post, stats, _ = fake_posterior(rng, draws=800)
    k = np.full((4, 800), 2)
    for c, runs in enumerate((2, 3, 5, 12)):            # runs of K = 3, 60 draws each: 15% to 90% of a chain
        for r in range(runs):
            start = (r * 800) // runs
            k[c, start:start + 60] = 3
    post["n_subgroups"][:] = k
    diag = diagnose(post, stats)
    assert diag.worst["rhat_at"] == "n_subgroups" and not diag.converged
    shares = [float(np.mean(row == 2)) for row in k]
    assert diag.k_by_chain["2"] == pytest.approx(shares) and diag.k_by_chain["3"] == pytest.approx(
        [1 - s for s in shares])
    # Monte Carlo error of the probability of K = 2: about sqrt(p (1 - p) / ESS), well above the iid one
    iid = np.sqrt(np.mean(k == 2) * np.mean(k == 3) / k.size)
    assert diag.k_probability_mcse["2"] > 3 * iid and diag.k_probability_mcse["3"] == pytest.approx(
        diag.k_probability_mcse["2"])
    said = next(w for w in diag.warnings if "(at n_subgroups)" in w)
    assert ("share of draws at K = 2 by chain: " + ", ".join(f"{s:.2f}" for s in shares)) in said
    assert f"Monte Carlo standard error {diag.k_probability_mcse['2']:.2f}" in said
    assert "pss-bayes compare" in said
    assert any(w.startswith("Bulk effective sample size") and "(at n_subgroups)" in w for w in diag.warnings)
    assert sum("share of draws" in w for w in diag.warnings) == 1         # said once when R-hat and ESS fail there


def test_number_of_subgroups_every_draw_has_has_no_monte_carlo_error():
    post, stats, _ = fake_posterior(np.random.default_rng(8))
    diag = diagnose(post, stats)
    assert diag.k_by_chain == {"3": [1.0, 1.0, 1.0, 1.0]} and diag.k_probability_mcse == {"3": 0.0}
    assert not any("n_subgroups" in w for w in diag.warnings)


def test_k_at_the_ceiling_of_a_sparse_mixture_is_a_model_warning():
    rng = np.random.default_rng(5)
    post, stats, _ = fake_posterior(rng)
    k = int(post["n_subgroups"].max())
    assert diagnose(post, stats, k_max=k + 10).model_warnings == []
    assert diagnose(post, stats).model_warnings == []                     # fixed K: no ceiling
    assert diagnose(post, stats, k_max=k + 1).model_warnings == []         # one component left empty
    at_ceiling = diagnose(post, stats, k_max=k)
    assert at_ceiling.model_warnings and "every component the model has" in at_ceiling.model_warnings[0]
    assert at_ceiling.converged == diagnose(post, stats).converged        # not a convergence failure


def test_effective_sample_size_that_cannot_be_computed_is_said_plainly():
    post, stats, _ = fake_posterior(np.random.default_rng(6), draws=1)
    diag = diagnose(post, stats)
    assert not diag.converged
    assert any("cannot be computed from 1 draws per chain" in w for w in diag.warnings)
    assert not any("nan" in w for w in diag.warnings)
