"""The interface an engine implements. An engine is one folder that owns every fact
about it: the distributions of its release lines and how they name cells, the packages
it watches, its fixture and golden output, its tiers and their needs, its benchmark
figures (and their measured spread), and its lines in the report. The harness (matrix,
run, results, report, gate, doctor, here) reads these and names no engine.

Modelled on pytest-benchmark's hookspecs: a declared surface, not code the harness
imports by name."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Tier:
    """A tier: a pytest marker in the engine's tier tests, and a status in each result."""

    name: str
    needs: tuple[str, ...] = ()
    description: str = ""
    #: A tier about pairs of cells (this stack loading what another cell made): its
    #: results are a grid of pairs in the report and the gate, not part of the cell's
    #: verdict (a producer's fault must not turn every consumer red).
    of_pairs: bool = False


@dataclass(frozen=True)
class Line:
    """A release line of an engine: one distribution, the report's name for it, and the
    prefix of its cells' ids (``tts0.22.0-torch...``)."""

    key: str
    distribution: str
    label: str
    id_prefix: str
    #: The releases the exploratory matrix covers (first, last; None: the newest), or None.
    explore: tuple[str, str | None] | None = None
    #: Explored at its highest resolution only (a line no longer released: what users
    #: still install it with), not at its lowest nor per extra.
    explore_highest_only: bool = False


@dataclass(frozen=True)
class Figure:
    """A benchmark figure: read from a bench test's pytest-benchmark statistics (``test``,
    a test-name prefix, and ``stat``) or from a list of seconds a tier test records as a
    property (``prop``, reduced with ``reduce``). Renaming a bench test is one edit here,
    in the engine's folder, not a figure silently gone from the report and the gate."""

    name: str
    label: str
    #: pytest-benchmark test (name prefix) and statistic: ``mean_s``, ``min_s``, ``rtf``
    #: (audio seconds per wall second) or ``min_s_per_audio_s``.
    test: str | None = None
    stat: str = "mean_s"
    #: Or a property (a list of seconds) recorded by a test of ``tier``.
    prop: str | None = None
    reduce: str = "mean"
    #: The tier it is measured in: a tier run on a busy machine makes its figures busy.
    tier: str = "bench"
    #: Run-to-run spread (max/min) on a quiet machine; a figure with a spread is a time the
    #: gate compares (bigger is slower), failing only beyond threshold and spread. Never
    #: written here: ``python -m compat spreads`` measures it into the engine's
    #: ``spreads.json``, which ``with_measured_spreads`` reads.
    spread: float | None = None


@dataclass(frozen=True)
class FixtureSpec:
    """How an engine's canonical fixture is built: once, in the reference cell's
    environment, which also produces the golden output every other cell is compared to."""

    #: The reference cell, as ``compat.cells.Cell``'s keywords (``compat.cells.reference_cell``
    #: makes the cell: the engines sit below cells and name none), e.g.
    #: ``dict(id="eng1.0-torch2.5.1-tf4.46.2-py3.11", python="3.11", tts="eng==1.0",
    #: torch="2.5.1", transformers="4.46.2", engine="eng")``.
    reference: Mapping[str, Any]
    #: Run as ``python -m <builder> --out DIR --seed N`` inside that environment.
    builder: str
    #: The cached folder, and a check raising an error that names a bad file.
    folder: Callable[..., Path]
    verify: Callable[[Path], object]


@dataclass(frozen=True)
class Engine:
    """An engine: one folder under compat/engines/ whose ``__init__`` defines ``ENGINE``.
    Each field below says what the harness does with it and shows an example (docs/
    extending.md's field table is made from these comments: ``python -m
    compat.engines.fielddocs``)."""

    #: The engine's name: its folder, a cell's ``engine`` key, the report's section key.
    #: Example: ``name="mytts"``
    name: str
    #: The report's heading for the engine's section.
    #: Example: ``title="MyTTS 2"``
    title: str
    #: Its release lines: the distributions a cell's ``tts`` axis may name, each with the
    #: prefix of its cells' ids and the releases the exploratory matrix covers.
    #: Example: ``lines=(Line("main", "mytts", "MyTTS (1.x)", "mytts", explore=("1.0", None)),)``
    lines: tuple[Line, ...]
    #: Tiers in run order, each with the tiers it needs; ``install`` is the harness's own
    #: and always comes first.
    #: Example: ``tiers=(Tier("import"), Tier("load", needs=("import",)),
    #: Tier("synth", needs=("load",)))``
    tiers: tuple[Tier, ...]
    #: Folder of pytest files run inside each cell (``test_<tier>.py``; in-cell code).
    #: Example: ``tier_dir=Path(__file__).parent / "tiers"``
    tier_dir: Path
    #: Installed beside the cell's pins (the cell-side test runner).
    #: Example: ``harness_requirements=("pytest>=7", "pytest-timeout", "pytest-benchmark")``
    harness_requirements: tuple[str, ...] = ("pytest>=7", "pytest-timeout", "pytest-benchmark")
    #: Copies the fixture into the cell's work folder (never the shared cache itself);
    #: returns the variables its tiers read.
    #: Example: ``prepare=lambda work: {"MYTTS_FIXTURE_DIR": str(copy_fixture(work))}``
    prepare: Callable[[Path], Mapping[str, str]] | None = field(default=None, compare=False)
    #: How the canonical fixture is built and checked, in the reference cell.
    #: Example: ``fixture=FixtureSpec(reference=dict(id=..., python="3.11", tts="mytts==1.0",
    #: torch="2.5.1", transformers="4.46.2"), builder="fixtures.build_mytts",
    #: folder=canonical_dir, verify=verify)``
    fixture: FixtureSpec | None = field(default=None, compare=False)
    #: Where the committed golden output for a fixture folder lives.
    #: Example: ``golden_dir=lambda fixture: REPO / "fixtures" / "golden" / fixture.name``
    golden_dir: Callable[[Path], Path] | None = field(default=None, compare=False)
    #: The tier that compares with the golden output: its digest holds the golden's files,
    #: so a regenerated golden reruns it (and only it) in every cell.
    #: Example: ``golden_tier="synth"``
    golden_tier: str = "synth"
    #: What a result depends on besides pins and code: which model the tiers load (the
    #: fixture, or a real one the user points at); enters the fingerprint.
    #: Example: ``model_identity=lambda: {"model": manifest_digest()}``
    model_identity: Callable[[], Mapping[str, str]] | None = field(default=None, compare=False)
    #: Host prerequisites (compat.env.host.KNOWN) and the distributions whose presence in a
    #: cell makes them needed: probed before the tiers, recorded in the result.
    #: Example: ``host_prerequisites={"ffmpeg": ("torchcodec",)}``
    host_prerequisites: Mapping[str, tuple[str, ...]] = field(default_factory=dict,
                                                              compare=False)
    #: Distributions besides its own lines whose versions a result records, the doctor
    #: reads and the gate watches in requirement files.
    #: Example: ``watched=("torch", "transformers", "numpy")``
    watched: tuple[str, ...] = ()
    #: Benchmark figures, in the order the report shows them (the gate compares those
    #: with a measured spread, ``spreads.json``).
    #: Example: ``figures=(Figure("synth_s", "synthesis", test="test_bench_synth"),)``
    figures: tuple[Figure, ...] = ()
    #: Properties of the synth tier's tests that say how a cell agrees with the golden
    #: output: {property: report key}. The first one present marks a device compared.
    #: Example: ``golden_properties={"golden_waveform_rel_error": "waveform_rel_error"}``
    golden_properties: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: Variables every tier run of this engine gets (e.g. a tracker turned off).
    #: Example: ``cell_env={"MYTTS_TELEMETRY": "0"}``
    cell_env: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: Artifacts one cell's tiers leave for other cells (compat.result.artifacts): kind ->
    #: the tier that reads the other cells' (a fine-tuned checkpoint -> crossload).
    #: Example: ``shares={"checkpoint": "crossload"}``
    shares: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: Packages besides torch and transformers whose edges the exploration explores: each
    #: is a direct requirement when the resolver picks a release's lowest and highest
    #: stacks (so ``lowest`` lowers it too), and its resolved version a pin of the cell.
    #: Example: ``explore_axes=("numpy", "mytts-g2p")``
    explore_axes: tuple[str, ...] = ()
    #: The exploration matrix generated for its lines, in ``matrices/`` (empty:
    #: ``explore-<name>.toml``).
    #: Example: ``explore_file="explore-mytts.toml"``
    explore_file: str = ""

    @property
    def exploration_file(self) -> str:
        return self.explore_file or f"explore-{self.name}.toml"

    @property
    def distributions(self) -> tuple[str, ...]:
        return tuple(line.distribution for line in self.lines)

    def tier_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers)

    def needed(self, tier: str) -> tuple[str, ...]:
        """Every tier ``tier`` needs, transitively, in the engine's order (not itself).
        KeyError for a tier the engine does not have."""
        needs = {t.name: t.needs for t in self.tiers}
        found: set[str] = set()
        todo = list(needs[tier])
        while todo:
            need = todo.pop()
            if need not in found:
                found.add(need)
                todo += needs[need]
        return tuple(t.name for t in self.tiers if t.name in found)

    def inputs(self) -> dict[str, str]:
        return dict(self.model_identity()) if self.model_identity else {}

    def golden_digest(self) -> str:
        """Hash of the committed golden output the cells are compared to ("none" if none)."""
        if self.fixture is None or self.golden_dir is None:
            return "none"
        folder = self.golden_dir(self.fixture.folder())
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        sha = hashlib.sha256()
        for path in files:
            sha.update(path.relative_to(folder).as_posix().encode())
            sha.update(path.read_bytes())
        return sha.hexdigest()[:16] if files else "none"

    def plan(self) -> list[dict[str, object]]:
        return [{"name": t.name, "needs": list(t.needs)} for t in self.tiers]

    def digest(self) -> str:
        """Hash of the tier tests, so a changed test invalidates stored results."""
        sha = hashlib.sha256()
        for path in sorted(self.tier_dir.rglob("*.py")):
            sha.update(path.relative_to(self.tier_dir).as_posix().encode())
            sha.update(path.read_bytes())
        return sha.hexdigest()[:16]


def spreads_path(engine: Engine) -> Path:
    """Where ``python -m compat spreads`` writes the engine's spreads, and it reads them."""
    return engine.tier_dir.parent / "spreads.json"


def with_measured_spreads(engine: Engine) -> Engine:
    """``engine`` with each figure's spread from ``spreads.json`` beside it (written by
    ``python -m compat spreads``); a figure the file does not name has none (not gated)."""
    import json
    from dataclasses import replace

    path = spreads_path(engine)
    try:
        measured = json.loads(path.read_text(encoding="utf-8")).get("spreads", {})
    except FileNotFoundError:
        measured = {}
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: unreadable spreads ({exc}); remake it with "
                         f"`python -m compat spreads --engine {engine.name}`") from None
    return replace(engine, figures=tuple(replace(f, spread=measured.get(f.name))
                                         for f in engine.figures))
