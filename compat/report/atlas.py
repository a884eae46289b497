"""The compatibility atlas: for every engine release, the stacks that work with it bare,
with shims, after a repair, and those that fail with their diagnosis and remedy; the
recommended pins of each release; the boundaries the culprit finder found; the date and
machine of each result. A page of the docs site (docs/atlas.md), made from results by
``xtts-compat atlas``, with the data it was made from beside it (docs/atlas.json): the
page's test checks the page against that data, and the data against the matrix files,
on a fresh clone with no results folder.

Only current results make the page: a stale one (its fingerprint no longer what the
pins and code give) or an interrupted one is counted and named as "to rerun", never
shown as a verdict.

The page keeps what earlier runs found: each row carries its result's stamp (what
``compat.result.fingerprint.staleness`` reads: the requirements, the fingerprint, the
Python and platform it ran on, its tier digests), and a regeneration keeps a row of the
previous docs/atlas.json that no new result replaces while its stamp is still current for
a matrix cell of its id. Why: a run of the exploration takes hours and a machine keeps no
results folder from one day to the next, so the page grows by runs on many machines; a
change of the harness code, the pins or the golden output makes every such row stale
(listed to rerun), as it makes a result stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from compat import engines
from compat.incell.atomicio import write_text_atomic
from compat.incell.status import INTERRUPTED, STALE
from compat.report.collect import collect
from compat.report.model import (
    _newness,
    _requirement_lines,
    build,
    first_line,
    short_cause,
)
from compat.result import diagnosis
from compat.system import paths

SCHEMA = "xtts-compat/atlas/1"
DOCS = paths.REPO / "docs"
PAGE, DATA = DOCS / "atlas.md", DOCS / "atlas.json"

#: The page's four groups, in this order, and the verdicts each holds.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("works", ("pass",)),
    ("works with shims", ("pass-with-shims",)),
    ("works after a repair", ("repaired",)),
    ("fails", ("fail", "install-failed", "diverged", "unverified", "host-missing",
               "incomplete", "skip")),
)
NOT_CURRENT = (STALE, INTERRUPTED)


def _how(entry: dict[str, Any]) -> dict[str, Any]:
    """What made it work, or what broke it: shims applied, the repair's fixes, or the
    failure that stopped the stack: the first that stood after every repair and shim (a
    failure the repair round mended is not what breaks the stack: a cell whose import
    lacked torchaudio, repaired, and whose load then failed, is shown by its load), with
    what was already added or shimmed before it, its diagnosis, remedy and error."""
    fixes = list((entry["repair"] or {}).get("fixes", []))
    shims = list(entry["shims"]["applied"])
    if entry["verdict"] == "pass-with-shims":
        return {"shims": shims}
    if entry["verdict"] == "repaired":
        return {"fixes": fixes, "shims": shims}
    failures = ([f for f in entry["failures"] if f["kind"] == "final"]
                or [f for f in entry["failures"] if f["kind"] != "mended"])
    if not failures:
        return {}
    first = failures[0]
    found = first["diagnosis"]
    outside = bool(found.get("outside_boundary"))
    how = {"tier": first["tier"], "diagnosis": short_cause(first),
           "entry": diagnosis.UNCLASSIFIED if outside else found["id"],
           "remedy": "" if outside else found.get("remedy", ""),
           "error": (f"{first['exc_type']}: " if first["exc_type"] else "")
           + first_line(first["message"], 400)}
    if first["kind"] == "final" and (fixes or shims):
        how["after"] = {"fixes": fixes, "shims": shims}
    return how


def data(report: dict[str, Any]) -> dict[str, Any]:
    """The atlas's data from a built report (compat.report.model.build)."""
    rows, later = [], []
    for entry in report["entries"]:
        if entry["verdict"] in NOT_CURRENT:
            later.append({"cell": entry["cell"], "why": entry["verdict"]})
            continue
        rows.append({
            "cell": entry["cell"], "engine": entry["engine"], "line": entry["line"],
            "release": entry["tts"], "python": ".".join(entry["python"].split(".")[:2]),
            "torch": entry["torch"], "transformers": entry["transformers"],
            "verdict": entry["verdict"], "how": _how(entry),
            "scope": list(entry.get("scope") or []),
            "requirements": _requirement_lines(entry),
            "machine": entry["machine"], "checked": (entry["finished_at"] or "")[:10]})
    boundaries = [{"cell": b["cell"], "package": b["package"], "last_good": b["last_good"],
                   "first_bad": b["first_bad"], "diagnosis": b.get("diagnosis", "")}
                  for b in report.get("boundaries", [])]
    return {"schema": SCHEMA, "generated_at": report["generated_at"], "rows": rows,
            "to_rerun": later, "boundaries": boundaries}


def _row_newness(row: dict[str, Any]) -> tuple:
    return _newness({"tts": row["release"], "torch": row.get("torch", "0"),
                     "transformers": row.get("transformers", "0"),
                     "python": row.get("python", "0")})


def _cell_text(row: dict[str, Any]) -> str:
    how = row["how"]
    if row["verdict"] == "pass":
        return ""
    if row["verdict"] == "pass-with-shims":
        return "shims: " + _code_list(how.get("shims", []))
    if row["verdict"] == "repaired":
        return "pins added: " + _code_list(how.get("fixes", []))
    if not how:
        return row["verdict"]
    remedy = f" Remedy: {how['remedy']}." if how.get("remedy") else ""
    error = how["error"].replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")
    after = how.get("after") or {}
    done = [f"{words} {_code_list(after[key])}" for key, words in
            (("fixes", "pins added"), ("shims", "shims")) if after.get(key)]
    before = f"with {' and '.join(done)}, " if done else ""
    return (f"{before}{how['tier']}: {how['diagnosis'].replace('|', chr(92) + '|')}.{remedy} "
            f"<details><summary>error</summary><code>{error}</code></details>")


def _code_list(items: list[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def _machine(key: str) -> str:
    parts = key.split("|")
    return f"{parts[0]}, {parts[2]} cores" if len(parts) > 2 else parts[0]


#: Verdicts that work, best first, and how the page says each.
WORKING = ((("pass",), "works bare"), (("pass-with-shims",), "works with shims"),
           (("repaired",), "works after a repair"))


def _newest_working(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], str] | None:
    for verdicts, words in WORKING:
        good = [r for r in rows if r["verdict"] in verdicts]
        if good:
            best = max(good, key=_row_newness)
            extra = f" ({_cell_text(best)})" if verdicts != ("pass",) else ""
            return best, words + extra
    return None


def _recommended(rows: list[dict[str, Any]]) -> str:
    """The newest stack of a release that works bare (every tier, not a partial run), else
    the newest that works at all and how. A release whose cells all ran some tiers only
    (the exploration's, which decide whether a stack works) gets no recommendation, but
    the newest stack that passed those tiers is named as such: a user choosing pins for
    that release has nothing better to start from. Else why there is none."""
    whole = [r for r in rows if not r["scope"]]
    found = _newest_working(whole)
    if found:
        best, words = found
        return f"**Recommended** (the newest stack that {words}, Python " \
               f"{best['python']}): {_code_list(best['requirements'])}"
    if whole:
        return "**Recommended:** none: no stack of this release works in these results."
    found = _newest_working(rows)
    if found:
        best, words = found
        return (f"**Recommended:** none yet: every cell of this release ran "
                f"{', '.join(best['scope'])} only. The newest stack that {words} on "
                f"those tiers (Python {best['python']}): {_code_list(best['requirements'])}")
    return ("**Recommended:** none yet: this release's cells ran some tiers only (the "
            "exploratory matrix judges whether a stack works, not every tier), and none "
            "passed them.")


def page(atlas: dict[str, Any]) -> str:
    rows = atlas["rows"]
    counts = {name: sum(1 for r in rows if r["verdict"] in verdicts)
              for name, verdicts in GROUPS}
    machines = sorted({_machine(r["machine"]) for r in rows})
    out = ["# Compatibility atlas", "",
           "<!-- GENERATED by `xtts-compat atlas` (compat/report/atlas.py) from results, "
           "with docs/atlas.json: do not edit by hand. -->", "",
           f"Which stacks work with each release: {len(rows)} stacks checked on "
           f"{', '.join(machines) or 'no machine'}, made {atlas['generated_at'][:10]}. "
           + ", ".join(f"{n} {name}" for name, n in counts.items()) + ".", "",
           "Each table is one release; each row a stack (Python, torch, transformers) and "
           "what it came to. *works*: every tier passed as installed; *with shims*: it "
           "passed with the shims named (`xtts-compat shims install`); *after a repair*: "
           "with the pins named added to the install; *fails*: the knowledge base's "
           "diagnosis and remedy, the error behind *error*. A stack marked *(some tiers)* "
           "ran the tiers that decide whether it works, not all of them.", ""]
    if atlas["to_rerun"]:
        out += [f"Not shown ({len(atlas['to_rerun'])}): results that are not current "
                "(stale or interrupted): "
                + ", ".join(f"`{r['cell']}`" for r in atlas["to_rerun"]) + ".", ""]
    for engine_name, engine in engines.all_engines().items():
        mine = [r for r in rows if r["engine"] == engine_name]
        if not mine:
            continue
        out += [f"## {engine.title}", ""]
        labels = {line.key: line.distribution for line in engine.lines}
        for line in engine.lines:
            releases = sorted({r["release"] for r in mine if r["line"] == line.key},
                              key=lambda v: _row_newness({"release": v}), reverse=True)
            for release in releases:
                newest_first = sorted((r for r in mine if r["line"] == line.key
                                       and r["release"] == release),
                                      key=_row_newness, reverse=True)
                names = [n for n, _ in GROUPS]
                here = sorted(newest_first, key=lambda r: names.index(_group(r)))
                out += [f"### {labels[line.key]} {release}", "", _recommended(here), "",
                        "| stack | verdict | how, or what breaks it | checked |",
                        "|---|---|---|---|"]
                labels_here = _stack_labels(here)
                for r, stack in zip(here, labels_here):
                    some = " (some tiers)" if r["scope"] else ""
                    out.append(f"| {stack} | {_group(r)}{some} | {_cell_text(r)} | "
                               f"{r['checked']}, {_machine(r['machine'])} |")
                out.append("")
    if atlas["boundaries"]:
        out += ["## Boundaries", "", "The first bad release of a package, from the culprit "
                "finder (`xtts-compat bisect`):", "",
                "| package | last good | first bad | found in | what broke |",
                "|---|---|---|---|---|"]
        out += [f"| {b['package']} | {b['last_good']} | {b['first_bad']} | `{b['cell']}` | "
                f"{b['diagnosis'] or '(unclassified)'} |" for b in atlas["boundaries"]]
        out.append("")
    return "\n".join(out)


def _stack_labels(rows: list[dict[str, Any]]) -> list[str]:
    """Each row's stack as the page names it: Python, torch, transformers; where rows of
    one release share those three (a release with two versions of its G2P package, a
    release with each of its extras), the requirement lines each row has and the others
    lack are added, so no two rows of a table read the same."""
    def base(r: dict[str, Any]) -> str:
        return f"py{r['python']} · torch {r['torch']} · transformers {r['transformers']}"
    out = []
    for r in rows:
        twins = [o for o in rows if base(o) == base(r)]
        if len(twins) == 1:
            out.append(base(r))
            continue
        shared = set.intersection(*(set(o["requirements"]) for o in twins))
        own = [line for line in r["requirements"] if line not in shared]
        out.append(base(r) + "".join(f" · `{line}`" for line in own))
    return out


def _group(row: dict[str, Any]) -> str:
    return next(name for name, verdicts in GROUPS if row["verdict"] in verdicts)


def problems(atlas: dict[str, Any], cells: dict[str, list[Any]]) -> list[str]:
    """What makes the data no longer stand for the matrix: a row whose cell no matrix
    file names with the requirements it ran, or a verdict the page cannot show."""
    out = []
    for row in atlas["rows"]:
        known = cells.get(row["cell"])
        if not known:
            out.append(f"{row['cell']}: no matrix file names this cell")
        elif row["verdict"] in NOT_CURRENT or not any(g for _, g in GROUPS
                                                       if row["verdict"] in g):
            out.append(f"{row['cell']}: verdict {row['verdict']!r} is no verdict of the page")
    return out


#: The parts of a result's data that decide whether it is still current (what
#: ``compat.result.fingerprint.staleness`` reads).
STAMP_KEYS = ("fingerprint", "tier_digests")


def stamp(result: dict[str, Any]) -> dict[str, Any]:
    """What of a result a later regeneration needs to judge its row current or stale."""
    return {"cell": {"requirements": list((result.get("cell") or {}).get("requirements")
                                          or [])},
            **{key: result.get(key) for key in STAMP_KEYS},
            "python": {k: (result.get("python") or {}).get(k) for k in ("version", "platform")},
            "environment": {"chosen": (result.get("environment") or {}).get("chosen")},
            "tiers": {key: {} for key in result.get("tiers") or {}}}


def carried(previous: dict[str, Any], atlas: dict[str, Any],
            cells: dict[str, list[Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The previous atlas's rows that no new result replaces: those still current for a
    matrix cell of their id (kept, as they were), and the others (to rerun, with why)."""
    from compat.result.fingerprint import staleness

    have = {r["cell"] for r in atlas["rows"]} | {r["cell"] for r in atlas["to_rerun"]}
    kept, later = [], []
    for row in previous.get("rows") or []:
        if not isinstance(row, dict) or row.get("cell") in have:
            continue
        known = cells.get(row.get("cell", ""), [])
        why: str | None
        if not row.get("stamp"):
            why = "no stamp (made before the atlas kept them)"
        elif not known:
            why = "no matrix file names this cell any more"
        else:
            reasons = [staleness(cell, row["stamp"]) for cell in known]
            why = None if None in reasons else reasons[0]
        if why:
            later.append({"cell": row["cell"], "why": f"stale: {why}"})
        else:
            kept.append(row)
    return kept, later


def current_cells(previous: dict[str, Any], cells: dict[str, list[Any]]) -> set[str]:
    """The cells whose row in an atlas's data is still current: the scheduled exploration
    runs the others only (``compat fanout --skip-current``)."""
    kept, _ = carried(previous, {"rows": [], "to_rerun": []}, cells)
    return {row["cell"] for row in kept}


def new_failures(previous: dict[str, Any], atlas: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows that fail now and did not before (no row, or one that worked): what a scheduled
    run names in its summary."""
    before = {r.get("cell"): _group(r) for r in previous.get("rows") or []
              if isinstance(r, dict) and r.get("verdict") in _VERDICTS}
    return [r for r in atlas["rows"]
            if _group(r) == "fails" and before.get(r["cell"]) != "fails"]


_VERDICTS = {v for _, verdicts in GROUPS for v in verdicts}


def summary(atlas: dict[str, Any], fresh: list[dict[str, Any]]) -> str:
    """Markdown for a workflow's step summary: the counts, then each new failure."""
    counts = {name: sum(1 for r in atlas["rows"] if _group(r) == name) for name, _ in GROUPS}
    out = ["## Compatibility atlas", "",
           f"{len(atlas['rows'])} stacks: " + ", ".join(f"{n} {k}" for k, n in counts.items())
           + f"; {len(atlas['to_rerun'])} not current.", ""]
    if not fresh:
        return "\n".join([*out, "No new failure.", ""])
    out += [f"### New failures ({len(fresh)})", "", "| cell | tier | diagnosis | remedy |",
            "|---|---|---|---|"]
    for row in fresh:
        how = row["how"] or {}
        out.append(f"| `{row['cell']}` | {how.get('tier', '')} | "
                   f"{how.get('diagnosis') or row['verdict']} | {how.get('remedy', '')} |")
    return "\n".join([*out, ""])


def write(folders: Iterable[Path], page_path: Path = PAGE, data_path: Path = DATA,
          keep: bool = True, cells: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """Make the page and its data from the results in ``folders`` and, with ``keep``, the
    rows of the previous data at ``data_path`` that are still current."""
    from compat.report.model import _known_cells

    collection = collect(list(folders))
    cells = _known_cells() if cells is None else cells
    atlas = data(build(collection, cells=cells))
    # A result of no matrix cell (a `here` run of the user's own environment) is no stack
    # of the atlas: the page names matrix cells only, each judged current by its cell.
    atlas["rows"] = [r for r in atlas["rows"] if r["cell"] in cells]
    atlas["to_rerun"] = [r for r in atlas["to_rerun"] if r["cell"] in cells]
    stamps = {loaded.result.id: stamp(loaded.result.to_dict())
              for loaded in collection.results}
    for row in atlas["rows"]:
        row["stamp"] = stamps.get(row["cell"])
    if keep and data_path.is_file():
        try:
            previous = json.loads(data_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{data_path}: unreadable atlas data ({exc}); regenerate with "
                             "--fresh") from None
        kept, later = carried(previous, atlas, cells)
        atlas["rows"] += kept
        atlas["to_rerun"] += later
    else:
        previous = {}
    write_text_atomic(data_path, json.dumps(atlas, indent=1) + "\n")
    write_text_atomic(page_path, page(atlas))
    return {**atlas, "new_failures": new_failures(previous, atlas)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xtts-compat atlas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="*", type=Path,
                        help="folders of results (default: COMPAT_RESULTS, else results/)")
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--fresh", action="store_true",
                        help="from these results only: drop the previous data's rows")
    parser.add_argument("--summary", type=Path,
                        help="also write a Markdown summary naming each new failure "
                             "(a workflow's $GITHUB_STEP_SUMMARY)")
    args = parser.parse_args(argv)
    folders = args.results or [paths.results_dir()]
    missing = [str(p) for p in folders if not p.is_dir()]
    if missing:
        print(f"atlas: no such results folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        atlas = write(folders, args.page, args.data, keep=not args.fresh)
    except ValueError as exc:
        print(f"atlas: {exc}", file=sys.stderr)
        return 2
    if args.summary:
        with open(args.summary, "a", encoding="utf-8") as out:
            out.write(summary(atlas, atlas["new_failures"]))
    print(f"atlas: {len(atlas['rows'])} stacks, {len(atlas['new_failures'])} new failures, "
          f"{len(atlas['to_rerun'])} not current -> "
          f"{args.page}, {args.data}")
    return 0
