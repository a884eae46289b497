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
    nox -s matrix -t explore            the exploratory matrix (nox -l -t explore lists it)
    nox -s fixtures                     build and verify each engine's offline tiny model
    nox -s golden                       regenerate fixtures/golden from the reference cell
    nox -s tests | e2e | lint | typecheck | docs      the suite's own checks
    nox -s COMMAND -- [options]         every command of compat/cli/commands.py (doctor,
                                        shims, here, report, gate, bisect, kb, explore,
                                        clean, fanout, spreads): `nox -l` lists them, and
                                        docs/commands.md says what each does and exits with
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))  # nox does not put the noxfile's folder there
from compat.cli import commands
from compat.cli import nox_sessions as nox_cells
from compat.system.supervise import stop_on_signals

stop_on_signals()  # SIGTERM (timeout, a CI cancel) stops nox as Ctrl-C does: cells included
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["matrix"]
nox.options.error_on_missing_interpreters = False

MATRIX = nox_cells.load_or_exit()


def command_session(command: commands.Command) -> Callable[[nox.Session], None]:
    def run(session: nox.Session) -> None:
        code = commands.run(command.name, session.posargs)
        if code:
            raise SystemExit(code)  # keep 1 and 2 apart: nox itself would exit 1 for both

    run.__doc__ = f"{command.summary} (-- {command.usage})"
    return run


# One session per command of the registry (compat/cli/commands.py): doctor, shims, here,
# report, gate, bisect, kb, explore, clean, fanout, spreads, as xtts-compat runs them.
for _command in commands.COMMANDS:
    nox.session(name=_command.name, python=False)(command_session(_command))


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


@nox.session
def tests(session: nox.Session) -> None:
    """The suite's fast tests: harness logic, no real cell, no network (-- PYTEST ARGS)."""
    nox_cells.run_pytest(session, "not e2e")


@nox.session
def e2e(session: nox.Session) -> None:
    """Real cells end to end: uv installs, real engines, tens of minutes (-- PYTEST ARGS)."""
    # Every real-cell test's cost printed at the end of every run, CI's included: the
    # suite must stay within CI's limit, and this is where its time goes.
    nox_cells.run_pytest(session, "e2e", "--durations=0", "--durations-min=5")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on compat/, patches/ and this noxfile."""
    session.install("-e", ".", "mypy>=1.10")
    session.run("mypy", "compat", "patches", "noxfile.py", *session.posargs)


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
