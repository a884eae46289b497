"""xtts-compat: a compatibility and regression suite for open TTS engines (each one a
folder under ``compat/engines/``).

Kept import-free: cell-side modules (probe, pytest plugin, tier tests) import
this package inside each cell's own virtual environment, on Python 3.9 to 3.13.
"""

__version__ = "0.1.0"
