"""The report in GitHub-flavoured Markdown: a section per engine, with a table per release
line, the failures with their diagnosis and remedy, and the recommended pins."""

from __future__ import annotations

import re
from typing import Any

from compat import engines
from compat.incell.status import MARK, VERDICT_MARK
from compat.report import model, pairs
from compat.report.model import LINES, first_line, short_cause
from compat.system.load import BUSY_SHARE

VERDICT = VERDICT_MARK


#: The start of an HTML tag, comment or declaration (``<b``, ``</``, ``<!``, ``<?``); a
#: plain ``<`` as in "Python < 3.12" stays.
TAG = re.compile(r"<(?=[A-Za-z/!?])")


def _cell(text: Any) -> str:
    """A table cell: pipes escaped, one line, and HTML in error text shown as text (a
    message holding ``<script>`` or ``<details>`` must not become markup)."""
    return TAG.sub("&lt;", str(text)).replace("|", "\\|").replace("\n", " ")


def tier_cell(item: dict[str, Any], name: str) -> str:
    tier = item["tiers"].get(name)
    if tier is None:
        return "—"
    shown = tier["display"]
    if shown == "install-failed":
        return "📦"
    if shown in ("fail", "diverged"):
        failure = next((f for f in item["failures"]
                        if f["tier"] in (name, "install") and f["kind"] == "final"), None)
        return f"{MARK[shown]}: {short_cause(failure)}" if failure else MARK[shown]
    if shown == "host-missing":
        return f"{MARK[shown]}: {tier['reason'].removeprefix('host-missing: ')}"
    if shown == "unverified":
        return f"{MARK[shown]} ({first_line(tier.get('reason'), 120)})"
    if shown in ("skip", "not-run") and tier.get("reason") and "needs" not in tier["reason"]:
        return f"{MARK[shown]} ({tier['reason']})"
    return MARK[shown]


def verdict_cell(item: dict[str, Any]) -> str:
    scope = f" (tiers {', '.join(item['scope'])})" if item.get("scope") else ""
    return _verdict_words(item) + scope


def _verdict_words(item: dict[str, Any]) -> str:
    if item["verdict"] == "install-failed":
        failure = next(f for f in item["failures"] if f["tier"] == "install")
        return f"{VERDICT['install-failed']}: {short_cause(failure)}"
    if item.get("repair"):
        return (f"{VERDICT[item['verdict']]} (repaired: {', '.join(item['repair']['fixes'])}; "
                f"bare: {', '.join(item['repair']['diagnoses'])})")
    if item.get("stale"):
        return f"{VERDICT[item['verdict']]}: {item['stale']}"
    return VERDICT[item["verdict"]]


def _figure(item: dict[str, Any], key: str, fmt: str) -> str:
    values = [f"{fmt.format(b[key])} {dev}" for dev, b in item["bench"].items() if key in b]
    values += [f"{fmt.format(b[key])} {dev} (busy)"  # taken on a busy machine: not a figure
               for dev, b in item.get("bench_busy", {}).items() if key in b]
    return "<br>".join(values) or "—"


def _shims(item: dict[str, Any]) -> str:
    needed, applied = item["shims"]["needed"], item["shims"]["applied"]
    if not applied:
        return "—"
    others = [s for s in applied if s not in needed]
    text = ", ".join(f"**{s}**" for s in needed)
    if others:
        text += (" + " if text else "") + ", ".join(others)
    return text


def table(entries: list[dict[str, Any]], tiers: list[str], machines: bool) -> list[str]:
    head = ["Cell", "Python", "torch", "transformers", "Version", *tiers, "Verdict", "Shims",
            "RTF", "Load s"] + (["Machine"] if machines else [])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for item in entries:
        row = [f"`{item['cell']}`", item["python"], item["torch"], item["transformers"],
               item["tts"], *(tier_cell(item, t) for t in tiers), verdict_cell(item),
               _shims(item), _figure(item, "rtf", "{:.2f}"), _figure(item, "load_s", "{:.2f}")]
        if machines:
            row.append(item["machine"].split("|")[0])
        rows.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return rows


def unclassified(entries: list[dict[str, Any]], level: str = "##") -> list[str]:
    found = model.unclassified(entries)
    if not found:
        return []
    out = ["", f"{level} Unclassified failures ({len(found)})", "",
           "No knowledge-base entry explains these. `nox -s kb -- draft CELL` prints a draft "
           "entry for each; `nox -s bisect` measures its boundary.", ""]
    out += [f"- **`{u['cell']}`** · {u['tier']} ({u['kind']}): `{u['error']}` · draft: "
            f"`{u['draft']}`" for u in found]
    return out


def failures(entries: list[dict[str, Any]], level: str = "##") -> list[str]:
    out = unclassified(entries, level)
    for kind, title in (("final", f"{level} Failures"), ("packaging", f"{level} Packaging "
                        "failures (bare; the engine was tested in a repaired environment)"),
                        ("mended", f"{level} Mended by shims")):
        found = [(e, f) for e in entries for f in e["failures"] if f["kind"] == kind]
        if not found:
            continue
        out += ["", title, ""]
        for item, failure in found:
            found_dx = failure["diagnosis"]
            head = f"- **`{item['cell']}`** · {failure['tier']}"
            if found_dx["id"] == "unclassified":
                out.append(f"{head} · **unclassified** (listed first, above)")
                continue
            out.append(f"{head} · **{found_dx['diagnosis']}** (`{found_dx['id']}`)")
            out.append(f"  - error: `{failure['exc_type']}: {first_line(failure['message'], 160)}`"
                       if failure["exc_type"] else
                       f"  - verdict: {first_line(failure['message'], 160)}")
            out.append(f"  - cause: {found_dx['cause']} Boundary: {found_dx['boundary']}.")
            fixed = f" (fixed here by {', '.join(failure['shims'])})" if failure["shims"] else ""
            if failure.get("repaired_by"):
                fixed = f" (repaired here with {', '.join(failure['repaired_by'])})"
            out.append(f"  - remedy: {found_dx['remedy']}{fixed}")
            if found_dx["reference"]:
                out.append(f"  - reference: {found_dx['reference']}")
    return out


def pins(recommended: list[dict[str, Any]], level: str = "##") -> list[str]:
    out = ["", f"{level} Recommended pins", ""]
    if not recommended:
        return [*out, "No cell passed: nothing to recommend."]
    for pick in recommended:
        out.append(f"{level}# {LINES[pick['line']]} on {pick['device']}")
        for kind, title in (("bare", "Newest that passes every tier bare"),
                            ("shimmed", "Newest that passes with shims"),
                            ("repaired", "Newest that passes once its packaging is "
                                         "repaired (the lines below include the repair)")):
            chosen = pick.get(kind)
            if not chosen:
                out += ["", f"{title}: none in these results."]
                continue
            out += ["", f"{title} (`{chosen['cell']}`, Python {chosen['python']}):", "",
                    "```text", *chosen["requirements"], "```"]
            if kind == "shimmed":
                out.append(f"then `xtts-compat shims install --python PATH` (shims: "
                           f"{', '.join(chosen['shims'])})")
        out.append("")
    return out


def newest(rows: list[dict[str, Any]]) -> list[str]:
    """Exact recommended pins: the newest release that still behaves as the good one."""
    if not rows:
        return []
    out = ["## Newest releases that still work", "",
           "Found by `nox -s bisect -- --newest-good`: with the cell's other pins as they are.",
           ""]
    for r in rows:
        after = f"; {r['first_bad']} is the first that does not" if r.get("first_bad") else \
            "; it is the newest on the index"
        out.append(f"- Newest {r['package']} that works with `{r['cell']}` (tier {r['tier']}, "
                   f"as {r['good']} does: {r['state']}): **{r['newest_good']}**{after}.")
    return [*out, ""]


def boundaries(rows: list[dict[str, Any]]) -> list[str]:
    """The culprit finder's answers: which release of which package changed which tier."""
    if not rows:
        return []
    out = ["## Boundaries", "",
           "Found by `nox -s bisect`: the release where a tier's verdict changes, with the "
           "other packages of the cell as they were.", "",
           "| Package | Last good | First bad | Cell | Tier | Change | Error | Diagnosis |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        known = r["diagnosis"]
        if known != "unclassified":
            known += "" if r["agrees"] else " (**stated boundary disagrees**)"
        also = f" (with {', '.join(f'{k} {v}' for k, v in r['with'].items())})" \
            if r["with"] else ""
        out.append(f"| {r['package']}{also} | {r['last_good']} | {r['first_bad']}"
                   f"{'' if r['exact'] else ' (range: skipped releases between)'} | "
                   f"`{r['cell']}` | {r['tier']} | {r['change']} | "
                   f"{r['error'][:160].replace('|', '/')} | {known} |")
    for r in rows:
        if r["disagreement"]:
            out.append(f"\n- Knowledge base disagrees: {r['disagreement']}")
        if r["draft"]:
            out += ["", f"Draft entry for {r['package']} {r['first_bad']} (complete it in the "
                    "engine's `known_breakages.toml`):", "", "```toml", r["draft"].rstrip(),
                    "```"]
    return [*out, ""]


def crossload(found: list[dict[str, Any]], engine: str, level: str = "##") -> list[str]:
    """The grid of checkpoints across stacks: rows trained with, columns loaded by; then
    every pair that did not load bare, with its cause and remedy."""
    rows, cols, cells = pairs.grid(found, engine)
    if not rows:
        return []
    out = [f"{level} Checkpoints across stacks", "",
           "Each cell's finetune tier leaves its checkpoint (the trainer's format less the "
           "optimizer); every other cell's crossload tier loads a copy, synthesises, and "
           "compares with what the training cell said. Rows: trained with; columns: loaded "
           "by. " + " · ".join(pairs.MARK.values()) + " (not tried bare: the loading cell's "
           "import needed shims first).", "",
           "| trained with ↓ / loaded by → | " + " | ".join(f"`{c}`" for c in cols) + " |",
           "|---|" + "---|" * len(cols)]
    for row in rows:
        out.append(f"| `{row}` | " + " | ".join(
            "(own)" if row == col else _cell(pairs.text(cells.get((row, col))))
            for col in cols) + " |")
    bad = [p for p in found if p["engine"] == engine and p["verdict"] in pairs.BROKEN]
    if bad:
        out += ["", "Pairs that did not load or speak alike:", ""]
        for pair in bad:
            line = (f"- `{pair['trained_with']}` → `{pair['loaded_by']}`: "
                    f"{pairs.MARK[pair['verdict']]}: {first_line(pair.get('message'), 200)}")
            found_dx = pair.get("diagnosis") or {}
            if found_dx.get("id", "unclassified") != "unclassified":
                line += f" — **{found_dx['id']}**: {found_dx['remedy']}"
            out.append(line)
    return [*out, ""]


def render(report: dict[str, Any]) -> str:
    entries, tiers = report["entries"], report["tiers"]
    several = len(report["machines"]) > 1
    counts = ", ".join(f"{n} {v}" for v, n in report["summary"].items() if n)
    out = ["# Compatibility report", "",
           f"{len(entries)} cells on {len(report['machines'])} machine(s), generated "
           f"{report['generated_at']}: {counts}.", ""]
    if not several and report["machines"]:
        out += [f"Machine: `{report['machines'][0]}`", ""]
    out += ["Legend: ✅ pass bare · 🩹 pass only with the named shims (**bold**: the shims the "
            "failures called for; the rest were applied with them) · ⚠️ diverged from the "
            "golden output · ❔ unverified (runs, but no golden output for its inputs could judge "
            "it) · 🖥️ host missing (a system library the stack loads is not on this host: not the "
            "stack's verdict) · ❌ fail (cause) · ⏭️ skipped (why) · · not run (an earlier tier "
            "failed) · 📦 install failed. RTF: real-time factor, seconds of audio per second of "
            "synthesis (higher is faster); Load s: checkpoint load seconds (mean of 3 rounds); "
            f"(busy): measured while other processes took more than {BUSY_SHARE:.0%} of the "
            "cores, not comparable.", ""]
    for engine in engines.all_engines().values():
        ours = [e for e in entries if e["engine"] == engine.name]
        if not ours:
            continue
        mine_tiers = [t for t in tiers if t in engine.tier_names()]
        out += [f"## {engine.title}", ""]
        for line in engine.lines:
            mine = [e for e in ours if e["line"] == line.key]
            if mine:
                out += [f"### {line.label}", "", *table(mine, mine_tiers, several), ""]
        out += failures(ours, "###")
        out += crossload(report.get("pairs", []), engine.name, "###")
        out += pins([p for p in report["recommended"] if p["line"] in
                     {line.key for line in engine.lines}], "###")
        out.append("")
    out += newest(report.get("newest_good", []))
    out += boundaries(report.get("boundaries", []))
    if report["problems"]:
        out += ["", "## Result files skipped", ""]
        out += [f"- `{p['path']}`: {p['problem']}" for p in report["problems"]]
    return "\n".join(out).rstrip() + "\n"
