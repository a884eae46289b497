"""The commands, one registry (``commands``): ``xtts-compat NAME`` and ``python -m compat
NAME`` reach every one, the noxfile's sessions call the same entries, and docs/commands.md
is written from it. Also the nox glue (``nox_sessions``) and the commands that are only a
front end (doctor, here, clean, kb, spreads, fanout)."""
