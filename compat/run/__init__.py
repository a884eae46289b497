"""Running cells: one cell end to end as named steps (``cell``), its shim and repair
rounds, several cells at once (``parallel``), and cells run through nox in a child
(``via_nox``: the gate's and the culprit finder's trials)."""
