"""The status vocabulary: the one owner of the words a result, the report, the gate, the
heatmap and the HTML use for how a tier and a cell went, and of how each is shown.

Three levels, one set of words:
- a tier's *status*, as the tier plugin records it inside the cell;
- a tier's *display*, as the report shows it (a pass that needed shims is ``shimmed``, a
  failure a missing host library explains is ``host-missing``, an install failure marks
  every tier ``install-failed``);
- a cell's *verdict*, the worst of its tiers' displays.

Stdlib only, Python 3.9 syntax: the tier plugin imports it inside cells.
"""

from __future__ import annotations

from dataclasses import dataclass

PASS, FAIL, ERROR, SKIP, NOT_RUN = "pass", "fail", "error", "skip", "not-run"
DIVERGED, UNVERIFIED = "diverged", "unverified"
#: A tier test may record ``record_property("verdict", ...)`` to refine a pass, worst
#: first, with the property holding the reason: ``diverged`` (runs, disagrees with the
#: golden output), ``unverified`` (runs, but no golden output for its inputs could judge it).
REFINED = {DIVERGED: "divergence", UNVERIFIED: "unverified"}
#: Tier statuses in a result.
STATUSES = (PASS, FAIL, ERROR, SKIP, NOT_RUN, DIVERGED, UNVERIFIED)
#: Statuses that are a failure of the stack (a divergence is one).
FAILED = (FAIL, ERROR, DIVERGED)
#: Statuses a packaging repair looks at: the engine raised (a divergence is not packaging).
RAISED = (FAIL, ERROR)
#: Not a verdict: the harness was stopped while the cell ran; the next run reruns it.
INTERRUPTED = "interrupted"
#: Not a verdict: the stored result no longer stands for its cell (its pins, the suite's
#: code, the model or the golden changed since it ran, or it is another stack's result
#: under the cell's id). The report shows it, the gate cannot judge it.
STALE = "stale"
#: How a ``not-run`` tier's reason starts when the run was told to leave it out
#: (COMPAT_TIER_ONLY): it did not run, so it says nothing of the stack.
NOT_SELECTED = "not selected"


def ran(tier: dict) -> bool:
    """Whether a tier record is from a run that included the tier (not left out)."""
    return not (tier.get("status") == NOT_RUN
                and str(tier.get("reason") or "").startswith(NOT_SELECTED))


@dataclass(frozen=True)
class Word:
    """One word of a display or verdict scale: how Markdown marks it, the heatmap's short
    label and colour, the HTML class."""

    name: str
    mark: str
    label: str
    colour: str
    css: str


#: Tier displays, best first.
DISPLAYS = (
    Word("pass", "✅ pass", "pass", "#2e7d32", "pass"),
    Word("shimmed", "🩹 pass (shims)", "shims", "#9ccc65", "shimmed"),
    Word("skip", "⏭️ skip", "skip", "#b0bec5", "skip"),
    Word("not-run", "· not run", "partial", "#eceff1", "not-run"),
    Word("unverified", "❔ unverified", "unverified", "#fff176", "unverified"),
    Word("host-missing", "🖥️ host missing", "host", "#90a4ae", "host-missing"),
    Word("diverged", "⚠️ diverged", "diverged", "#ffb300", "diverged"),
    Word("fail", "❌ fail", "fail", "#e53935", "fail"),
    Word("install-failed", "📦 install failed", "install", "#6d4c41", "install-failed"),
)
#: Cell verdicts, best first. ``incomplete``: some tiers did not run or skipped, none
#: failed (a skip is not a pass: a real model without dvae.pth skips fine-tuning).
#: ``repaired``: every tier passed, bare or with shims, in an environment the harness
#: repaired (a packaging failure: the pins alone do not install a working stack).
VERDICT_WORDS = (
    Word("pass", "✅ pass", "pass", "#2e7d32", "pass"),
    Word("pass-with-shims", "🩹 pass with shims", "shims", "#9ccc65", "shimmed"),
    Word("repaired", "🔧 pass after a packaging repair", "repaired", "#c5e1a5", "repaired"),
    Word("skip", "⏭️ skipped", "skip", "#b0bec5", "skip"),
    Word("incomplete", "· incomplete", "partial", "#eceff1", "not-run"),
    Word("unverified", "❔ unverified", "unverified", "#fff176", "unverified"),
    Word("host-missing", "🖥️ host prerequisite missing", "host", "#90a4ae", "host-missing"),
    Word("diverged", "⚠️ diverged", "diverged", "#ffb300", "diverged"),
    Word("fail", "❌ fail", "fail", "#e53935", "fail"),
    Word("install-failed", "📦 install failed", "install", "#6d4c41", "install-failed"),
)
#: Shown, never ranked: the run did not finish.
INTERRUPTED_WORD = Word(INTERRUPTED, "⏸️ interrupted (no verdict: the run was stopped; rerun)",
                        "stopped", "#ffffff", "not-run")
STALE_WORD = Word(STALE, "🕰️ stale (not checked: the result no longer stands for the cell; "
                  "rerun)", "stale", "#ffffff", "not-run")
#: Shown, never ranked, never judged.
UNJUDGED = (INTERRUPTED, STALE)

DISPLAY = tuple(w.name for w in DISPLAYS)
VERDICTS = tuple(w.name for w in VERDICT_WORDS)
MARK = {w.name: w.mark for w in DISPLAYS}
VERDICT_MARK = {w.name: w.mark for w in (*VERDICT_WORDS, INTERRUPTED_WORD, STALE_WORD)}
VERDICT_CLASS = {w.name: w.css for w in (*VERDICT_WORDS, INTERRUPTED_WORD, STALE_WORD)}
