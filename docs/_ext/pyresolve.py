"""Resolve a Python cross-reference to where the object is documented, as Python would.

xpcsnb documents each public object once, under the name users import
(``xpcsnb.fit.fit_nlsq``), while docstrings often cite the defining module
(``xpcsnb.fit.nlsq.fit_nlsq``) or a short name imported into the module where the
docstring is written (``Partition`` in ``xpcsnb.io.qmap``). Sphinx resolves neither.

For a ``py`` reference Sphinx could not resolve, this extension evaluates the target the way
the docstring's own module would (an absolute dotted path, or a name looked up in the module
whose docstring holds the reference, or in the page's current module) and, if the object it
finds is documented under another name, links there. A reference to an object that is not
documented anywhere stays unresolved, so the nitpicky build still reports it.
"""

from __future__ import annotations

import importlib
import re
import types
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

#: Objects whose identity says nothing (interned or shared values): never matched by identity.
_VALUES = (int, float, complex, str, bytes, bool, type(None))
_MISSING = object()


def _import(dotted: str) -> Any:
    """The object named by an absolute dotted path, or ``_MISSING``.

    Attributes win over submodules of the same name, as in Python: ``xpcsnb.core.g2`` is the
    function that ``xpcsnb.core`` exports, not the module ``xpcsnb/core/g2.py``.
    """
    parts = dotted.split(".")
    try:
        obj: Any = importlib.import_module(parts[0])
    except Exception:  # noqa: BLE001 - not importable: not a Python object we can find
        return _MISSING
    for i, attr in enumerate(parts[1:], start=1):
        nxt = getattr(obj, attr, _MISSING)
        for module in (".".join(parts[:i]), ".".join(parts[:i + 1])):  # the container, then the name
            if nxt is not _MISSING:
                break
            try:
                mod = importlib.import_module(module)
            except Exception:  # noqa: BLE001 - no such module
                continue
            nxt = mod if module == ".".join(parts[:i + 1]) else getattr(mod, attr, _MISSING)
        if nxt is _MISSING:
            return _MISSING
        obj = nxt
    return obj


def _module_of(dotted: str) -> types.ModuleType | None:
    """The module that holds the object named ``dotted`` (or the module itself)."""
    obj = _import(dotted)
    if isinstance(obj, types.ModuleType):
        return obj
    name = getattr(obj, "__module__", None) if not isinstance(obj, _VALUES) else None
    if isinstance(name, str):
        mod = _import(name)
        if isinstance(mod, types.ModuleType):
            return mod
    parent = dotted.rpartition(".")[0]
    return _module_of(parent) if parent else None


def _by_last_name(env: BuildEnvironment, target: str) -> list[Any]:
    """The documented xpcsnb objects whose name ends with ``.target`` (as Sphinx's ``.name``)."""
    return [_import(n) for n in env.get_domain("py").objects
            if n.startswith("xpcsnb") and n.endswith("." + target)]


def _documented(env: BuildEnvironment) -> dict[int, str]:
    """id(object) -> the name under which it is documented (built once per build)."""
    cache = getattr(env, "_pyresolve_ids", None)
    if cache is None:
        cache = {}
        for name in sorted(env.get_domain("py").objects, key=len, reverse=True):  # shortest name wins
            if not name.startswith("xpcsnb"):
                continue
            obj = _import(name)
            if obj is not _MISSING and not isinstance(obj, _VALUES) \
                    and not (isinstance(obj, tuple) and not obj):
                cache[id(obj)] = name
        env._pyresolve_ids = cache  # type: ignore[attr-defined]
    return cache


def _candidates(node: pending_xref) -> list[Any]:
    target = node["reftarget"].lstrip("~.")
    found = [_import(target)]
    source = node.source or ""
    m = re.search(r"docstring of ([\w.]+)", source)
    scopes = [m.group(1)] if m else []
    scopes += [s for s in (node.get("py:module"),) if s]
    head, _, rest = target.partition(".")
    for scope in scopes:
        mod = _module_of(scope)
        if mod is None:
            continue
        obj = getattr(mod, head, _MISSING)
        for attr in rest.split(".") if rest else []:
            obj = getattr(obj, attr, _MISSING) if obj is not _MISSING else _MISSING
        found.append(obj)
    return [o for o in found if o is not _MISSING and not isinstance(o, _VALUES)]


def _resolve(app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.Element):
    if node.get("refdomain") != "py" or ":" in node["reftarget"]:
        return None
    ids = _documented(env)
    found = _candidates(node)
    if not found:  # a name imported only for type checking, or cited from a summary table
        same = {id(o): o for o in _by_last_name(env, node["reftarget"].lstrip("~."))}
        found = list(same.values()) if len(same) == 1 else []
    for obj in found:
        name = ids.get(id(obj))
        if name and name != node["reftarget"]:
            return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, "obj", name,
                                                     _with_target(node, name), contnode)
    return None


def _with_target(node: pending_xref, name: str) -> pending_xref:
    new = node.deepcopy()
    new["reftarget"] = name
    return new


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", _resolve, priority=600)  # after intersphinx (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
