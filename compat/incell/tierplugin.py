"""pytest plugin loaded inside a cell (``-p compat.incell.tierplugin``): tiers as markers.

Each tier test carries ``@pytest.mark.tier("name")``. The plugin runs tiers in the
engine's order, marks a tier ``not-run`` when a tier it needs did not pass, guards
against network access, and after every test rewrites the tier report
(``COMPAT_TIER_REPORT``) atomically, so a crash mid-run keeps what was learnt.

Runs in the cell's own environment: stdlib and pytest only, Python 3.9 syntax.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from typing import Any

import pytest

from compat.incell.atomicio import write_json_atomic
from compat.incell.status import ERROR, FAIL, NOT_RUN, NOT_SELECTED, PASS, REFINED, SKIP

NOT_RUN_PREFIX = "not-run: "
TRACEBACK_LINES = 40
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _plan() -> list[dict[str, Any]]:
    raw = os.environ.get("COMPAT_TIER_PLAN")
    return json.loads(raw) if raw else []


class TierRecorder:
    def __init__(self, plan: list[dict[str, Any]], report_path: str | None) -> None:
        self.plan = plan
        self.order = {tier["name"]: n for n, tier in enumerate(plan)}
        self.needs = {tier["name"]: list(tier.get("needs", [])) for tier in plan}
        self.report_path = report_path
        self.tests: dict[str, list[dict[str, Any]]] = {tier["name"]: [] for tier in plan}
        self.started = time.time()
        self.current: dict[str, str] | None = None
        self.setup_seconds: dict[str, float] = {}
        #: COMPAT_TIER_ONLY: run just these tiers (e.g. doctor --verify: import,load).
        self.only = [t for t in os.environ.get("COMPAT_TIER_ONLY", "").split(",") if t]

    # -- status ---------------------------------------------------------------------------

    def status(self, tier: str) -> dict[str, Any]:
        """The tier's status over all its tests, and per device where tests have one."""
        tests = self.tests.get(tier, [])
        if not tests:
            if self.only and tier not in self.only:
                return {"status": NOT_RUN,
                        "reason": f"{NOT_SELECTED} (only {', '.join(self.only)})"}
            return {"status": NOT_RUN, "reason": "no test of this tier was collected"}
        overall = aggregate(tests)
        devices = sorted({t["device"] for t in tests if t.get("device")})
        if devices:
            overall["devices"] = {}
            for dev in devices:
                subset = [t for t in tests if t.get("device") in (dev, None)]
                overall["devices"][dev] = {k: v for k, v in aggregate(subset).items()
                                           if k in ("status", "message", "reason", "test")}
        return overall

    def blocked_by(self, tier: str) -> str | None:
        """Why a tier cannot run: a tier it needs did not pass (a need left out by
        COMPAT_TIER_ONLY is taken as given)."""
        for need in self.needs.get(tier, []):
            if self.only and need not in self.only:
                continue
            state = self.status(need)["status"]
            if state not in (PASS, *REFINED):
                return f"{NOT_RUN_PREFIX}tier '{tier}' needs '{need}', which is {state}"
        return None

    def write(self) -> None:
        if not self.report_path:
            return
        write_json_atomic(self.report_path, {
            "tiers": {tier["name"]: self.status(tier["name"]) for tier in self.plan},
            "current": self.current, "started": self.started, "updated": time.time(),
            "shims": _shim_state(),
        })

    # -- pytest hooks ---------------------------------------------------------------------

    def tier_of(self, item: pytest.Item) -> str:
        marker = item.get_closest_marker("tier")
        if marker is None or not marker.args:
            raise pytest.UsageError(f"{item.nodeid}: a tier test needs @pytest.mark.tier('name')")
        name = marker.args[0]
        if name not in self.order:
            raise pytest.UsageError(f"{item.nodeid}: unknown tier {name!r}; "
                                    f"this engine's tiers are {list(self.order)}")
        return name

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config, items) -> None:
        items.sort(key=lambda item: self.order[self.tier_of(item)])
        if self.only:
            dropped = [item for item in items if self.tier_of(item) not in self.only]
            items[:] = [item for item in items if self.tier_of(item) in self.only]
            config.hook.pytest_deselected(items=dropped)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item) -> None:
        # Written before the test runs: if the process dies now, the harness knows where.
        self.current = {"tier": self.tier_of(item), "test": item.nodeid.split("::")[-1]}
        self.write()
        reason = self.blocked_by(self.tier_of(item))
        if reason:
            pytest.skip(reason)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "setup" and report.outcome == "passed":
            self.setup_seconds[item.nodeid] = report.duration  # fixtures count for the tier
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self._record(item, report, call)

    def _record(self, item, report, call) -> None:
        took = report.duration + self.setup_seconds.pop(item.nodeid, 0.0)
        entry: dict[str, Any] = {"test": item.nodeid.split("::")[-1], "seconds": round(took, 3)}
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "device" in params:
            entry["device"] = params["device"]
        for name, value in getattr(report, "user_properties", []):
            if name == "verdict":
                entry["verdict"] = value
            else:
                entry.setdefault("properties", {})[name] = value
        if report.skipped:
            entry["outcome"] = SKIP
            longrepr = report.longrepr
            entry["reason"] = (longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
                               ).removeprefix("Skipped: ")
        elif report.passed:
            entry["outcome"] = PASS
        else:
            entry["outcome"] = ERROR if report.when == "setup" else FAIL
            if call.excinfo is not None:
                entry["exc_type"] = call.excinfo.typename
                entry["message"] = _first_lines(ANSI.sub("", str(call.excinfo.value)), 20)
            lines = report.longreprtext.splitlines()
            entry["traceback"] = ANSI.sub("", "\n".join(lines[-TRACEBACK_LINES:]))
        self.tests[self.tier_of(item)].append(entry)
        self.current = None
        self.write()

    def pytest_sessionfinish(self, session) -> None:
        self.write()


def aggregate(tests: list[dict[str, Any]]) -> dict[str, Any]:
    """error, else fail, else skip (or not-run) when nothing ran, else a refined verdict
    (diverged, then unverified), else pass."""
    seconds = round(sum(t["seconds"] for t in tests), 3)
    for wanted in (ERROR, FAIL):
        bad = [t for t in tests if t["outcome"] == wanted]
        if bad:
            first = bad[0]
            return {"status": wanted, "seconds": seconds, "test": first["test"],
                    "exc_type": first.get("exc_type"), "message": first.get("message"),
                    "traceback": first.get("traceback"), "tests": tests}
    ran = [t for t in tests if t["outcome"] == PASS]
    if not ran:
        reason = tests[0].get("reason") or "skipped"
        if reason.startswith(NOT_RUN_PREFIX):
            return {"status": NOT_RUN, "reason": reason[len(NOT_RUN_PREFIX):], "tests": tests}
        return {"status": SKIP, "reason": reason, "seconds": seconds, "tests": tests}
    for verdict, why in REFINED.items():
        refined = [t for t in ran if t.get("verdict") == verdict]
        if refined:
            first = refined[0]
            return {"status": verdict, "seconds": seconds, "test": first["test"],
                    "message": first.get("properties", {}).get(why), "tests": tests}
    return {"status": PASS, "seconds": seconds, "tests": tests}


def _first_lines(text: str, n: int) -> str:
    return "\n".join(text.splitlines()[:n])


class NetworkBlocked(RuntimeError):
    """Raised when a tier opens a network connection: tiers run offline."""


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "", None)


def _guard_network() -> None:
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in LOCAL_HOSTS and not str(host).startswith("127."):
            raise NetworkBlocked(f"tiers run offline; a test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    for name in ("connect", "connect_ex"):
        real = getattr(socket.socket, name)

        def guarded(self, address, _real=real):  # type: ignore[no-untyped-def]
            if self.family in (socket.AF_INET, socket.AF_INET6):
                raise NetworkBlocked(f"tiers run offline; a test tried to connect to {address!r}")
            return _real(self, address)

        setattr(socket.socket, name, guarded)


def _apply_shims() -> None:
    """``COMPAT_SHIMS``: ``auto`` (every shim that applies) or a comma-separated list."""
    wanted = os.environ.get("COMPAT_SHIMS")
    if wanted:
        from compat.incell.bundled import module

        patches = module("patches")

        patches.apply(None if wanted == "auto" else [n for n in wanted.split(",") if n])


def _shim_state() -> dict[str, Any] | None:
    if not os.environ.get("COMPAT_SHIMS"):
        return None
    from compat.incell.bundled import module

    patches = module("patches")

    return {"requested": os.environ["COMPAT_SHIMS"], "applied": patches.applied(),
            "active": patches.active()}


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "tier(name): the tier a test belongs to")
    _apply_shims()
    if os.environ.get("COMPAT_ALLOW_NETWORK") != "1":
        _guard_network()
    config.pluginmanager.register(
        TierRecorder(_plan(), os.environ.get("COMPAT_TIER_REPORT")), "compat-tiers")
