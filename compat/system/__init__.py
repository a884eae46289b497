"""Host utilities that know no cell: child processes under limits (``supervise``), the
machine and its load, the Pythons that run, the repository's folders, progress lines.
Imports only ``compat.incell`` below it."""
