# /// script
# requires-python = ">=3.9"
# dependencies = [
#     "nox>=2025.2.9",
#     "uv>=0.5",
#     "packaging>=23",
#     "tomli>=2; python_version < '3.11'",
#     "psutil>=5.9",
#     "jinja2>=3.1",
#     "jsonschema>=4.18",
#     "rfc3339-validator>=0.1.4",
#     "matplotlib>=3.7",
#     "pip-requirements-parser>=32",
# ]
# ///
"""Sessions of xtts-compat. Thin by design: the logic lives in ``compat/``.

    nox -s matrix                       every cell of the selected matrix (COMPAT_MATRIX)
    nox -s "matrix(cell='<id>')"        one cell; -k and -t select by keyword and tag
    nox -s fixtures                     build and verify each engine's offline tiny model
    nox -s golden                       regenerate fixtures/golden from the reference cell
    nox -s report [-- DIR ...]          merge results into reports/ (after every matrix run)
    nox -s gate [-- --bump REQ --cell ID | --from-diff BASE | --update-baseline]
                                        fail on a regression against the baseline (exit 1)
    nox -s bisect -- --cell ID --package NAME [--good V --bad V --tier T | --newest-good]
    nox -s bisect -- --from-diff BASE | --good-lock F --bad-lock F
                                        the release (or the set of packages) that broke it
    nox -s matrix -t explore            the exploratory matrix (nox -l -t explore lists it)
    nox -s explore -- --regenerate      rewrite matrices/explore.toml from the releases' metadata
    nox -s kb -- check | draft CELL     the knowledge bases: schema, examples, boundaries; drafts
    nox -s doctor -- --python PATH      what will break in an environment you have, and the fix
    nox -s here -- --python PATH        the tiers in an environment you already have
    nox -s tests                        the suite's fast tests (no real cell)
    nox -s e2e                          real cells end to end (CI runs tests, e2e, lint, typecheck)
    nox -s lint                         ruff, and zizmor on the workflows and the Action
    nox -s typecheck                    mypy on compat/, patches/ and the noxfile
    nox -s docs                         the documentation, strict (a broken link fails)
    nox -s clean [-- --dry-run]         remove environments and results nothing needs
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))  # nox does not put the noxfile's folder there
from compat.cli import nox_sessions as nox_cells
from compat.system.supervise import stop_on_signals

stop_on_signals()  # SIGTERM (timeout, a CI cancel) stops nox as Ctrl-C does: cells included
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["matrix"]
nox.options.error_on_missing_interpreters = False

MATRIX = nox_cells.load_or_exit()


@nox.session(reuse_venv=True)
@nox.parametrize("python, engine", nox_cells.fixture_params())
def fixtures(session: nox.Session, engine: str) -> None:
    """Build (once) and verify the engine's canonical offline fixture (-- --rebuild)."""
    nox_cells.build_fixture(session, engine)


@nox.session(reuse_venv=True)
@nox.parametrize("python, engine", nox_cells.fixture_params())
def golden(session: nox.Session, engine: str) -> None:
    """Regenerate the golden output (fixtures/golden/) from the engine's reference cell."""
    if not nox_cells.asked_by_name("golden"):
        session.skip("golden rewrites the committed golden outputs: run it by name "
                     "(nox -s golden), not through a keyword or a tag")
    nox_cells.build_fixture(session, engine)  # the same environment: its reference cell
    nox_cells.make_golden(session, engine)


@nox.session(reuse_venv=True, requires=nox_cells.fixture_sessions(MATRIX))
@nox.parametrize(nox_cells.PARAM_NAMES, nox_cells.params(MATRIX))
def matrix(session: nox.Session, cell: str, tts: str, torch: str, transformers: str) -> None:
    """One matrix cell: install its pins, run its tiers, write results/<cell>.json."""
    nox_cells.run_matrix_cell(session, MATRIX, cell)


@nox.session(python=False)
def report(session: nox.Session) -> None:
    """Merge results/*.json (or the folders given) into reports/: JSON, Markdown, HTML, PNG."""
    nox_cells.render_report(session)


@nox.session(python=False)
def gate(session: nox.Session) -> None:
    """The CI gate: exit 0 no regression, 1 regression, 2 could not run (see docs/gate.md)."""
    from compat import gate as run_gate

    code = run_gate.main(session.posargs)
    if code:
        raise SystemExit(code)  # keep 1 and 2 apart: nox itself would exit 1 for both


@nox.session(python=False)
def bisect(session: nox.Session) -> None:
    """The release that broke it (-- --cell ID --package NAME [--good V --bad V --tier T])."""
    from compat import culprit

    code = culprit.main(session.posargs)
    if code:
        raise SystemExit(code)  # 1: no boundary found; 2: cannot run


@nox.session(python=False)
def kb(session: nox.Session) -> None:
    """The knowledge bases as data (-- check | -- draft CELL [--results DIR])."""
    from compat.cli import kb as knowledge

    code = knowledge.main(session.posargs)
    if code:
        raise SystemExit(code)  # 1: drafts printed or a knowledge base is wrong; 2: cannot run


@nox.session(python=False)
def explore(session: nox.Session) -> None:
    """Regenerate matrices/explore.toml from the releases' metadata (-- --regenerate)."""
    from compat.plan import explore as exploration

    code = exploration.main(session.posargs)
    if code:
        raise SystemExit(code)


@nox.session(python=False)
def doctor(session: nox.Session) -> None:
    """What will break in an existing environment (-- --python PATH [--json] [--verify])."""
    from compat.cli import doctor as run_doctor

    code = run_doctor.main(session.posargs)
    if code:
        raise SystemExit(code)  # 1: something will break; 2: cannot tell


@nox.session(python=False)
def here(session: nox.Session) -> None:
    """The tiers in an existing environment, installing nothing (-- --python PATH --table)."""
    from compat.cli import here as run_here

    run_here.main(session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The suite's fast tests: harness logic, no real cell, no network (-- PYTEST ARGS)."""
    nox_cells.run_pytest(session, "not e2e")


@nox.session
def e2e(session: nox.Session) -> None:
    """Real cells end to end: uv installs, real engines, tens of minutes (-- PYTEST ARGS)."""
    nox_cells.run_pytest(session, "e2e")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on compat/, patches/ and this noxfile."""
    session.install("-e", ".", "mypy>=1.10")
    session.run("mypy", "compat", "patches", "noxfile.py", *session.posargs)


@nox.session(python=False)
def clean(session: nox.Session) -> None:
    """Remove environments and results nothing needs (-- --dry-run to list them first)."""
    from compat.cli import clean as cleaning

    cleaning.main(session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation (docs/, mkdocs.yml) built in strict mode: a broken link fails."""
    session.install("mkdocs>=1.6")
    site = Path(session.create_tmp()) / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on everything; zizmor (GitHub Actions' static security analyser, offline) on
    the workflows and the Action: actions pinned by hash, least permissions, no persisted
    credentials, no expression inlined into a script."""
    session.install("ruff>=0.6", "zizmor>=1.0")
    session.run("ruff", "check", ".")
    session.run("zizmor", "--offline", ".github/workflows", "action.yml")
