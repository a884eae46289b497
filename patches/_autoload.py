"""Run at interpreter start by the ``.pth`` hook ``python -m patches install`` writes:
apply every shim that applies. Never breaks start-up: a failure is kept in ``error`` (the
hook and ``python -m patches status`` report it), not raised."""

error = None
try:
    from . import apply as _apply

    _apply()
except Exception as _exc:  # pragma: no cover - only reached in a broken environment
    error = f"{type(_exc).__name__}: {_exc}"
