"""A name → class registry with entry-point plug-ins, shared by every package of the project.

:class:`Registry` maps the names written in YAML (``codec: vqvae``, ``channel: rayleigh``,
``teacher: urban-unet``) to the classes or factories that build them. Third-party packages add
entries through a Python entry-point group given at construction, loaded lazily on first lookup; a
plug-in that fails to import is listed as failed and never breaks the others. The project's
registries are :data:`gosvae.registry.CODECS` / ``TEACHERS`` / ``DATASETS`` and
:data:`channels.registry.CHANNELS`.

Example
-------
>>> THINGS = Registry("thing", entry_point_group=None)
>>> @THINGS.register("box", description="a box")
... class Box: ...
>>> THINGS.get("box") is Box, THINGS.names()
(True, ['box'])
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Iterator, TypeVar

from gosvae_core.errors import UserError

__all__ = ["Registry", "RegistryEntry"]

T = TypeVar("T")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered object: its name, the object itself, a one-line description, its origin."""

    name: str
    obj: Any
    description: str
    origin: str  # "built-in" or the distribution/entry point that provided it


class Registry:
    """A named collection of classes or factories.

    Parameters
    ----------
    kind : str
        What the registry holds, used in error messages ("codec", "channel model", ...).
    entry_point_group : str | None
        Entry-point group scanned once, on first lookup, for third-party additions.
    """

    def __init__(self, kind: str, *, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, RegistryEntry] = {}
        self._plugins_loaded = entry_point_group is None

    def register(
        self, name: str, *, description: str = "", origin: str = "built-in"
    ) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a second use of a name is an error."""

        def decorator(obj: T) -> T:
            self.add(name, obj, description=description, origin=origin)
            return obj

        return decorator

    def add(self, name: str, obj: Any, *, description: str = "", origin: str = "built-in") -> None:
        """Register ``obj`` under ``name`` (raises ``ValueError`` if the name is taken)."""
        if name in self._entries and self._entries[name].obj is not obj:
            raise ValueError(f"{self.kind} '{name}' is already registered by {self._entries[name].origin}")
        if not description:
            doc = (getattr(obj, "__doc__", None) or "").strip()
            description = doc.splitlines()[0] if doc else ""
        self._entries[name] = RegistryEntry(name, obj, description, origin)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                continue
            origin = f"plugin {ep.dist.name if ep.dist else ep.value}"
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must not break the built-in models
                self._entries[ep.name] = RegistryEntry(ep.name, None, f"failed to load: {exc}", origin)
                continue
            if ep.name not in self._entries:  # loading may have registered it already
                self.add(ep.name, obj, origin=origin)

    def get(self, name: str) -> Any:
        """Return the object registered as ``name``; :class:`UserError` listing the names if unknown."""
        self._load_plugins()
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UserError(f"unknown {self.kind} '{name}' (known: {known})")
        if entry.obj is None:
            raise UserError(f"{self.kind} '{name}' ({entry.origin}) {entry.description}")
        return entry.obj

    def get_checked(self, name: str, check: Callable[[str, Any], None]) -> Any:
        """:meth:`get`, then ``check(name, obj)``; a ``TypeError`` from the check (a plug-in that
        registered the wrong kind of object) becomes a one-line :class:`UserError`."""
        obj = self.get(name)
        try:
            check(name, obj)
        except TypeError as exc:
            raise UserError(str(exc)) from None
        return obj

    def entries(self) -> list[RegistryEntry]:
        """All entries, built-in and plugins, sorted by name."""
        self._load_plugins()
        return [self._entries[k] for k in sorted(self._entries)]

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
