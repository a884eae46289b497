"""Import hooks: run a callback just before or just after a module's code runs.

Shims must act before ``import TTS`` without importing TTS themselves (that takes
seconds and can fail in the very stacks they fix), so each one registers here for the
module it mends. A module already imported gets its after-hooks at once.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
from typing import Callable

Hook = Callable[[object], None]
_hooks: dict[str, tuple[list[Hook], list[Hook]]] = {}


def before_import(name: str, hook: Hook) -> bool:
    """Run ``hook(module)`` before ``name``'s code runs. False if it is already imported."""
    if name in sys.modules:
        return False
    _register(name)[0].append(hook)
    return True


def after_import(name: str, hook: Hook) -> None:
    """Run ``hook(module)`` right after ``name`` is imported (now, if it already is)."""
    if name in sys.modules:
        hook(sys.modules[name])
    else:
        _register(name)[1].append(hook)


def _register(name: str) -> tuple[list[Hook], list[Hook]]:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    return _hooks.setdefault(name, ([], []))


class _Loader(importlib.abc.Loader):
    def __init__(self, inner, name: str) -> None:
        self.inner, self.name = inner, name

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        before, after = _hooks.get(self.name, ([], []))
        for hook in list(before):
            hook(module)
        self.inner.exec_module(module)
        for hook in list(after):
            hook(module)

    def __getattr__(self, attr):  # get_source, is_package, ... of the real loader
        return getattr(self.inner, attr)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader, name)
                return spec
        return None


class Mend:
    """The ``apply``/``active`` pair of a shim that mends one module with one hook:
    run just before the module's code (``before=True``) or right after it."""

    def __init__(self, target: str, hook: Hook, *, before: bool = False) -> None:
        self.target, self.hook, self.before, self.done = target, hook, before, False

    def _run(self, module: object) -> None:
        self.hook(module)
        self.done = True

    def apply(self) -> None:
        if not self.before:
            after_import(self.target, self._run)
        elif not before_import(self.target, self._run):
            self._run(sys.modules[self.target])  # already imported: mend what is left

    def active(self) -> bool:
        return self.done


def wrap_method(cls: type, name: str, make: Callable[[Callable], Callable]) -> None:
    """Replace ``cls.name`` with ``make(original)``, once: applying twice wraps once."""
    original = getattr(cls, name)
    if getattr(original, "_xtts_compat", False):
        return
    wrapped = functools.wraps(original)(make(original))
    wrapped._xtts_compat = True  # type: ignore[attr-defined]
    setattr(cls, name, wrapped)
