"""The committed baseline covers every cell of the default selection and every tier each
engine declares (issue 26: it held 14 of 21 cells and no longform or crossload tier, and
the gate went blind to what it lacked). Filled with
``nox -s gate -- --update-baseline --missing-only`` after a run of the missing cells."""

from __future__ import annotations

from compat.gate.baseline import BASELINE, gaps, read_baseline
from compat.plan.matrixfile import load_matrices
from compat.system import paths


def test_the_committed_baseline_covers_every_cell_and_every_declared_tier():
    cells = load_matrices(paths.matrix_paths(None)).cells
    assert len(cells) >= 21
    missing = gaps(read_baseline(BASELINE), cells)
    assert not missing, (f"{BASELINE} lacks {missing}: run those cells, then "
                         "`nox -s gate -- --update-baseline --missing-only`")


def test_the_coverage_check_finds_a_cell_and_a_tier_taken_out(tmp_path):
    """The check above can fail: a copy of the baseline with a cell and a tier removed."""
    baseline = read_baseline(BASELINE)
    cells = load_matrices(paths.matrix_paths(None)).cells
    first, second = cells[0].id, cells[1].id
    damaged = {**baseline, "cells": dict(baseline["cells"])}
    del damaged["cells"][first]
    tiers = dict(damaged["cells"][second]["tiers"])
    dropped = next(iter(tiers))
    del tiers[dropped]
    damaged["cells"][second] = {**damaged["cells"][second], "tiers": tiers}
    before, found = gaps(baseline, cells), gaps(damaged, cells)
    assert set(found[second]) - set(before.get(second, [])) == {dropped}
    assert first in found and len(found[first]) >= 3
