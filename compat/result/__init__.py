"""A cell's result: its file (``files``: where it lives, read and written atomically),
what it stands for (``fingerprint``), what it left behind (``artifacts``), its benchmark
figures, how a crash is attributed to tiers, and the knowledge bases that diagnose its
failures (``diagnosis``)."""
