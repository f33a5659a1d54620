"""Model specs: shipped names, TOML files, validation of keys and values."""

import pytest

from pss_bayes.errors import SpecError
from pss_bayes.model.spec import ModelSpec, available_specs, load_spec


def test_shipped_specs_load_by_name():
    names = available_specs()
    assert {"default", "normal", "diagonal", "plain", "equal_spread", "shared_spread"} <= set(names)
    assert load_spec("normal").likelihood.family == "normal"
    assert load_spec("default").likelihood.family == "student_t"
    assert load_spec("diagonal").covariation.enabled is False
    plain = load_spec("plain")
    assert plain.likelihood.family == "normal" and plain.covariation.enabled is False
    default = load_spec("default")
    assert default.patient_spread.enabled and not load_spec("equal_spread").patient_spread.enabled
    assert not plain.patient_spread.enabled
    assert default.patient_spread.by_subgroup and not load_spec("shared_spread").patient_spread.by_subgroup
    for section in ("mixture", "likelihood", "covariation", "patient_spread", "priors", "sampler"):
        assert getattr(default, section) == getattr(ModelSpec(), section)


def test_spec_from_path_and_partial_sections(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[mixture]\nfixed_k = 3\n[likelihood]\nfamily = "student_t"\ndf = 6\n')
    spec = load_spec(path)
    assert spec.name == "mine" and spec.mixture.fixed_k == 3 and spec.mixture.n_components == 3
    assert not spec.mixture.sparse and spec.likelihood.df == 6.0
    assert spec.priors == ModelSpec().priors


@pytest.mark.parametrize("text, message", [
    ("[mixture]\nkmax = 3\n", r"unknown key\(s\) \['kmax'\] in \[mixture\]"),
    ("[prior]\nx = 1\n", r"unknown top-level key\(s\) \['prior'\]"),
    ('[likelihood]\nfamily = "cauchy"\n', "likelihood.family is 'cauchy'"),
    ("[priors]\nbatch_sd = -1\n", "priors.batch_sd must be positive"),
    ("[patient_spread]\nprior_shape = 0\n", "patient_spread.prior_shape must be positive"),
    ("[patient_spread]\nsubgroup_shape = 2\n", "patient_spread.subgroup_shape must be above 2"),
    ("[mixture]\nk_max = 'ten'\n", "k_max = 'ten' is not a valid int"),
    ("[covariation]\nenabled = 1\n", "enabled = 1 is not a valid bool"),
    ("[sampler]\nextensions = -1\n", "tune and extensions >= 0"),
    ("[mixture\n", "not valid TOML"),
])
def test_bad_spec_files_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_unknown_name_lists_shipped_specs():
    with pytest.raises(SpecError, match="no model spec named 'nope'.*default"):
        load_spec("nope")


def test_replace_changes_one_field():
    spec = ModelSpec().replace(mixture={"fixed_k": 2})
    assert spec.mixture.fixed_k == 2 and spec.mixture.k_max == 10
