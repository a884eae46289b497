"""Run at interpreter start by the ``.pth`` hook ``python -m patches install`` writes:
apply every shim that applies. Never breaks start-up: a failure is printed, not raised."""

try:
    from . import apply as _apply

    _apply()
except Exception as _exc:  # pragma: no cover - only reached in a broken environment
    import sys as _sys

    print(f"xtts-compat shims not applied: {type(_exc).__name__}: {_exc}", file=_sys.stderr)
