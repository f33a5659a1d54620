"""Split/merge moves: the bookkeeping."""

import numpy as np

from pss_bayes.model.collapsed import EffectIntegral, ModuleBlocks, patient_information
from pss_bayes.model.split_merge import SplitMerge


def _setup(rng, n=12, modules=(0, 0, 0, 1, 1, 2)):
    module = np.array(modules)
    members = (module[None, :] == np.arange(module.max() + 1)[:, None]).astype(float)
    prec = rng.uniform(0.5, 2.0, (n, len(module))) * (rng.uniform(size=(n, len(module))) > 0.2)
    resid = rng.normal(0.0, 1.5, (n, len(module)))
    tau2 = rng.uniform(0.1, 0.6, members.shape[0])
    return module, members, prec, resid, tau2


def test_split_and_merge_change_only_the_two_components():
    rng = np.random.default_rng(2)
    module, members, prec, resid, tau2 = _setup(rng, n=30)
    resid[:15] += 3.0                                   # two clear groups in one component
    blocks = ModuleBlocks.from_modules(module, members.shape[0])
    info = patient_information(prec, resid, np.zeros(len(module)), blocks)
    moves = SplitMerge(info, EffectIntegral(blocks, tau2, 4.0), resid, prec > 0)
    labels = np.zeros(30, dtype=int)
    labels[-1] = 2
    seen = set()
    for _ in range(200):
        before = labels.copy()
        updates = moves.step(rng, labels, 4, e0=1.0)
        if not updates:
            continue
        changed = np.flatnonzero(before != labels)
        assert set(before[changed]) | set(labels[changed]) <= {c for c, _ in updates}
        for c, (Q, h) in updates:                        # the sums handed back are the groups' after the move
            group_q, group_h = info.group(np.flatnonzero(labels == c))
            assert np.allclose(Q, group_q) and np.allclose(h, group_h)
        seen.add(len(np.unique(labels)))
    assert max(seen) >= 3                                # the clear split was accepted at some point
