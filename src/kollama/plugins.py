"""Named plugins, one mechanism for every swappable part: the built-ins kollama ships, then the third-party ones
that installed distributions declare under a Python entry-point group, the way `llm` plugins register. A
package adds an engine (`kollama.engines`, named by the model kind it serves), a document format
(`kollama.parsers`, named by suffix) or an embedder (`kollama.embedders`, named as collections record it) by
being installed; nothing in kollama names it.

A built-in name always means the built-in: which backend runs a model, what `rag add` reads and how a
collection's vectors are made must not change because some package happens to be installed. Entry points are only read for a name that is not
built in, so looking up a built-in costs what a dict lookup costs.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from kollama.errors import KollamaError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to factories. `adapt` turns what a third-party entry point loads into a factory of `T`; without
    it the loaded object is the factory."""

    def __init__(self, group: str, builtins: dict[str, Callable[..., T]],
                 adapt: Callable[[object], Callable[..., T]] | None = None) -> None:
        self.group = group
        self.builtins = builtins
        self._adapt = adapt

    def third_party(self) -> dict[str, EntryPoint]:
        """Entry points of installed distributions, first one per name, built-in names left out."""
        found: dict[str, EntryPoint] = {}
        for point in entry_points(group=self.group):
            if point.name not in self.builtins:
                found.setdefault(point.name, point)
        return found

    def __contains__(self, name: object) -> bool:
        return name in self.builtins or name in self.third_party()

    def names(self) -> list[str]:
        """Built-ins in their order, then third-party names."""
        return [*self.builtins, *self.third_party()]

    def factory(self, name: str) -> Callable[..., T] | None:
        """What makes `name`, or None for a name nobody registered; a plugin that fails to import says which."""
        if name in self.builtins:
            return self.builtins[name]
        point = self.third_party().get(name)
        if point is None:
            return None
        try:
            loaded = point.load()
        except Exception as exc:  # a plugin's import error is the plugin's, reported as one clear line
            package = point.dist.name if point.dist else point.value
            raise KollamaError(f"the {self.group} plugin '{name}' ({package}) failed to load: {exc}",
                               hint="reinstall or uninstall that package") from exc
        return self._adapt(loaded) if self._adapt else loaded  # type: ignore[return-value]
