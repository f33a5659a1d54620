"""A chain continued after its draws is the same Markov chain as one run longer; its start can be given."""

import pickle

import numpy as np
import pytest

from pss_bayes.model.chain import Chain, join_traces
from pss_bayes.model.design import prepare
from pss_bayes.model.spec import load_spec


@pytest.fixture(scope="module")
def tiny_data(tiny_sim):
    return prepare(tiny_sim.cohort, load_spec("default"))[0]


def test_continuing_equals_one_longer_run(tiny_data):
    spec = load_spec("default")
    whole = Chain(tiny_data, spec, seed=3).run(30, tune=20)
    pieces = Chain(tiny_data, spec, seed=3)
    first = pieces.run(12, tune=20)
    pieces = pickle.loads(pickle.dumps(pieces))          # as when it comes back from a worker process
    joined = join_traces(first, pieces.run(18))
    assert pieces.sweeps == 50
    for name, values in whole.items():
        np.testing.assert_array_equal(joined[name], values, err_msg=name)


def test_given_start(tiny_data):
    spec = load_spec("default")
    n = int(tiny_data.is_patient.sum())
    start = np.arange(n) % 2
    chain = Chain(tiny_data, spec, seed=1, start=start)
    np.testing.assert_array_equal(chain.state.labels, start)
    for bad in (np.zeros(n - 1, dtype=int), np.full(n, chain.n_components)):
        with pytest.raises(ValueError, match="start must give each"):
            Chain(tiny_data, spec, seed=1, start=bad)
