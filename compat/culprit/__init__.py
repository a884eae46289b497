"""The culprit finder (``nox -s bisect``): from "the bump broke it" to "this release of
this package broke it".

The pipeline, one module per step:

- ``releases``: the candidate releases of a package on the cell's index (yanked ones
  skipped as pip skips them; pre-releases only when asked);
- ``search``: the searches, pure and tested with a fake judge: binary search over releases
  with ``git bisect skip`` semantics, delta debugging over a set of changed packages, the
  newest release that still works;
- ``trials``: a trial is a cell with some pins changed, run through ``nox -s matrix`` (the
  same install, fingerprint and result code; a trial already run is free) only as far as
  the tier chased; its *state* for that tier is what the search compares;
- ``explain``: the first bad release's error against the knowledge base: the entry, whether
  its stated boundary agrees with the one found, else a draft entry;
- ``cli``: the command line, the progress lines and the answer written to
  ``results/bisect/``, which the report shows as "boundaries".
"""

from __future__ import annotations

from compat.culprit.cli import find_for_gate, main

__all__ = ["find_for_gate", "main"]
