"""Small numerical helpers shared by the samplers' per-sweep code."""

from __future__ import annotations

from typing import Callable

import numba
import numpy as np

LOG_2PI = float(np.log(2 * np.pi))


def logsumexp(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis``, stable (a lean version of SciPy's, called every sweep)."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    out = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top
    return np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def contiguous_floats(*arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays as C-contiguous float64 (copies only where needed): one compiled version serves all calls."""
    return [np.ascontiguousarray(a, dtype=float) for a in arrays]


def jit(function: Callable) -> Callable:
    """Compile one of the sampler's inner loops (numba, no Python objects inside).

    The machine code is cached on disk, next to the module or in the user's cache
    directory; where neither is writable, it is compiled in memory by each process.
    """
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(function)
    except RuntimeError:                 # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, error_model="numpy")(function)
