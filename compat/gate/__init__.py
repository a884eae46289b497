"""The CI gate on dependency bumps: ``python -m compat gate`` (``nox -s gate``).

    nox -s gate                               run the matrix's cells, compare with the baseline
    nox -s gate -- --no-run                   compare the results already there
    nox -s gate -- --update-baseline          rewrite the baseline from the results (shows the diff)
    nox -s gate -- --update-baseline --missing-only   add only the cells and tiers it lacks
    nox -s gate -- --bump torch==2.10.0 --cell ID      old and bumped cell side by side
    nox -s gate -- --from-diff origin/main [--root DIR] bumps read from your requirement files

Exit codes: 0 no regression; 1 regression (each named); 2 the gate could not run (bad
arguments, missing baseline, harness failure), with a one-line reason.

A package split by concern: ``policy`` (expectations, regressions, slowdowns: pure),
``baseline`` (the file), ``bumps`` (bumped cells, requirement files), ``running`` (cells
through nox), ``output`` (tables, exit codes), ``cli`` (the commands).
"""

from __future__ import annotations

from compat.gate.baseline import BASELINE, BASELINE_SCHEMA, read_baseline, update_baseline
from compat.gate.cli import confirmed_slowdowns, main, parser
from compat.gate.output import CANNOT_RUN, OK, REGRESSION, publish, render
from compat.gate.policy import (
                               CONFIRM_TIERS,
                               EXPECTED_FAILURES,
                               Change,
                               GateError,
                               compare,
                               compared_figures,
                               expectation,
                               fastest,
                               slowdowns,
)
from compat.plan.bumps import (
                               REQUIREMENT_FILES,
                               bump,
                               cell_from_pins,
                               cell_table,
                               distinguished,
                               pins_from_diff,
                               pins_in,
                               watched,
)
from compat.run.via_nox import run_cells

__all__ = [
                               "BASELINE",
                               "BASELINE_SCHEMA",
                               "CANNOT_RUN",
                               "CONFIRM_TIERS",
                               "EXPECTED_FAILURES",
                               "OK",
                               "REGRESSION",
                               "REQUIREMENT_FILES",
                               "Change",
                               "GateError",
                               "bump",
                               "cell_from_pins",
                               "cell_table",
                               "compare",
                               "compared_figures",
                               "confirmed_slowdowns",
                               "distinguished",
                               "expectation",
                               "fastest",
                               "main",
                               "parser",
                               "pins_from_diff",
                               "pins_in",
                               "publish",
                               "read_baseline",
                               "render",
                               "run_cells",
                               "slowdowns",
                               "update_baseline",
                               "watched",
]
