"""Code that runs inside a cell's environment: the tier plugin (``-p
compat.incell.tierplugin``), the probe (``python -m compat.incell.probe``), the status
words, atomic writes, and the tier support the engines' ``conftest.py`` files share.

The rule, checked by tests/unit/test_layout.py: the standard library and pytest only
(the cell's own packages are what is under test), Python 3.9 syntax and library (the
oldest Python a cell runs), and no import from any other part of ``compat``. The host's
code may import from here (the status words are shared); nothing here imports the host's.
"""
