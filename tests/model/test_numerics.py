"""The compiling decorator of the sampler's inner loops."""

import numba
import numpy as np

from pss_bayes.model import numerics


def test_compiled_loops_work_where_no_cache_directory_is_writable(monkeypatch):
    real = numba.njit

    def njit_without_cache_location(*args, cache=False, **options):
        if cache:      # what numba raises when neither the package's folder nor the user's cache is writable
            raise RuntimeError("cannot cache function 'total': no locator available for file 'loops.py'")
        return real(*args, **options)

    monkeypatch.setattr(numerics.numba, "njit", njit_without_cache_location)

    def total(x):
        out = 0.0
        for v in x:
            out += v
        return out

    compiled = numerics.jit(total)
    assert compiled(np.arange(4.0)) == 6.0
