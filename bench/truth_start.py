"""Is a wrong number of subgroups the posterior's or the sampler's? Chains started at the truth.

For every preset x seed, two single chains of the default spec run the same number of
sweeps on the simulated cohort: one started from the true partition of the patients, one
from the usual k-means start. If the posterior puts its mass on the true K and the sampler
merely fails to find it, the chain started at the truth stays there; if the posterior
prefers another K, that chain leaves the true K and both chains end up agreeing.

Columns: ``start`` (``truth`` or ``kmeans``), ``p_true_k_first`` and ``p_true_k_last``
(share of the first and last half of the draws at the true number of non-empty subgroups),
``k_mode_last`` (most frequent K in the last half), ``left_at`` (first draw after which the
chain spent 100 draws in a row away from the true K; a dash if never).

Run::

    python bench/truth_start.py                                  # overlap, seeds 2 3, 4000 draws
    python bench/truth_start.py --presets overlap default --seeds 0 1 2 3 4 --draws 2000
    python bench/truth_start.py --model my_priors.toml --draws 1500     # another spec's posterior
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

import numpy as np

from _common import markdown_table, parser, run_grid, write_csv
from pss_bayes import load_spec, simulate_cohort
from pss_bayes.model.chain import Chain
from pss_bayes.model.design import prepare

TUNE = 300
AWAY = 100
COLUMNS = ("preset", "seed", "true_k", "start", "p_true_k_first", "p_true_k_last", "k_mode_last", "left_at")


def true_start(sim, data) -> np.ndarray:
    """Each patient's true subgroup as a component index 0..K-1."""
    ids = data.subject_ids[data.is_patient]
    truth = sim.truth.set_index("subject_id").loc[ids, "subgroup"].to_numpy()
    return np.unique(truth, return_inverse=True)[1]


def left_at(k: np.ndarray, true_k: int, away: int = AWAY) -> int | None:
    """First draw that begins ``away`` draws in a row with K != true_k."""
    run = 0
    for i, off in enumerate(k != true_k):
        run = run + 1 if off else 0
        if run == away:
            return i - away + 1
    return None


def run_pair(preset: str, seed: int, draws: int, model: str = "default") -> list[dict[str, Any]]:
    sim = simulate_cohort(preset=preset, seed=seed)
    spec = load_spec(model)
    data, _, _ = prepare(sim.cohort, spec)
    rows = []
    for start, labels in (("truth", true_start(sim, data)), ("kmeans", None)):
        trace = Chain(data, spec, seed=seed, start=labels).run(draws, tune=TUNE)
        k = (trace["counts"] > 0).sum(1)
        half = draws // 2
        rows.append({"preset": preset, "seed": seed, "true_k": sim.n_subgroups, "start": start,
                     "p_true_k_first": float(np.mean(k[:half] == sim.n_subgroups)),
                     "p_true_k_last": float(np.mean(k[half:] == sim.n_subgroups)),
                     "k_mode_last": int(np.bincount(k[half:]).argmax()), "left_at": left_at(k, sim.n_subgroups)})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__, (2, 3))
    p.add_argument("--presets", nargs="+", default=["overlap"], help="simulation presets (default: overlap)")
    p.add_argument("--draws", type=int, default=4000, help="draws per chain after 300 warm-up sweeps")
    p.add_argument("--model", default="default", help="model spec name or TOML path (default: default)")
    args = p.parse_args(argv)
    draws = 300 if args.quick else args.draws
    presets = ["tiny"] if args.quick else args.presets
    pairs = run_grid(presets, args.seeds, lambda preset, seed: {"rows": run_pair(preset, seed, draws, args.model)},
                     "running chains on")
    rows = [row for pair in pairs for row in pair["rows"]]
    write_csv(rows, args.out)
    print(f"## Chains started at the truth and at k-means, model '{args.model}' "
          f"({draws} draws after {TUNE} warm-up sweeps)\n")
    print(markdown_table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
