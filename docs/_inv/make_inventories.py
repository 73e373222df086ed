"""Write the small intersphinx inventories ``docs/_inv/<project>.inv`` that the site links with.

The documentation must build without a network (CI has none at test time), so ``docs/conf.py``
reads these files instead of downloading ``objects.inv``. Each is the project's inventory cut
down to the names that occur in xpcsnb's sources (docstrings, ``docs/*.md``, ``conf.py``) or in
numpydoc's default type aliases, which keeps them a few kilobytes.

Run from the repository root after citing a new external name (the nitpicky build names it)::

    python docs/_inv/make_inventories.py                       # downloads every objects.inv
    python docs/_inv/make_inventories.py python=/usr/share/doc/python3.11/html/objects.inv

``NAME=PATH`` reads a local inventory instead of downloading (Debian's ``*-doc`` packages ship
them). :data:`EXTRA` lists entries written from the projects' published URL layout, added when
the inventory read lacks them (an older local inventory, or none at all).
"""

from __future__ import annotations

import re
import sys
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

#: project -> base URL of its documentation (the same as ``intersphinx_mapping`` in conf.py).
PROJECTS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "xarray": "https://docs.xarray.dev/en/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
    "matplotlib": "https://matplotlib.org/stable/",
    "distributed": "https://distributed.dask.org/en/stable/",
}

#: Entries (name, domain:role, uri, display) added when the inventory read lacks them.
EXTRA: dict[str, list[tuple[str, str, str, str]]] = {
    "numpy": [
        ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#$", "-"),
        ("numpy.dtype", "py:class", "reference/generated/numpy.dtype.html#$", "-"),
        ("numpy.random.Generator", "py:class", "reference/random/generator.html#$", "-"),
        ("numpy.random.default_rng", "py:function", "reference/random/generator.html#$", "-"),
        ("numpy.inf", "py:data", "reference/constants.html#$", "-"),
        ("numpy.nan", "py:data", "reference/constants.html#$", "-"),
        ("array_like", "std:term", "glossary.html#term-array_like", "array_like"),
        ("arrays.scalars", "std:label", "reference/arrays.scalars.html#arrays-scalars", "Scalars"),
    ],
    "matplotlib": [
        ("matplotlib.axes.Axes", "py:class", "api/_as_gen/matplotlib.axes.Axes.html#$", "-"),
        ("matplotlib.figure.Figure", "py:class", "api/_as_gen/matplotlib.figure.Figure.html#$", "-"),
    ],
    "xarray": [(f"xarray.{n}", "py:class", f"generated/xarray.{n}.html#$", "-")
               for n in ("Dataset", "DataArray", "DataTree")],
}


def read(data: bytes) -> list[tuple[str, str, str, str, str]]:
    """Entries (name, domain:role, priority, uri, display) of a version-2 inventory."""
    head, _, body = data.partition(b"compressed using zlib.\n")
    if not head.startswith(b"# Sphinx inventory version 2"):
        raise ValueError("not a Sphinx version-2 inventory")
    out = []
    for line in zlib.decompress(body).decode().splitlines():
        m = re.match(r"(.+?)\s+(\S+:\S+)\s+(-?\d+)\s+(\S*)\s+(.*)", line)
        if m:
            out.append(m.groups())
    return out


def write(path: Path, project: str, entries: list[tuple[str, str, str, str, str]]) -> None:
    """Write a version-2 inventory."""
    head = (f"# Sphinx inventory version 2\n# Project: {project}\n# Version: \n"
            "# The remainder of this file is compressed using zlib.\n").encode()
    body = "".join(" ".join(e) + "\n" for e in sorted(set(entries)))
    path.write_bytes(head + zlib.compress(body.encode(), 9))


def cited_words() -> set[str]:
    """Every identifier-like word of the sources the site is built from."""
    from numpydoc.xref import DEFAULT_LINKS

    texts = [p.read_text() for p in (ROOT / "xpcsnb").rglob("*.py")]
    texts += [p.read_text() for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts]
    texts += [(ROOT / "docs" / "conf.py").read_text(), " ".join(DEFAULT_LINKS.values())]
    text = "\n".join(texts)
    terms = re.findall(r":(?:term|ref):`(?:[^`<]*<)?(?:\w+:)?([^`>]+)>?`", text)  # may hold spaces
    return set(re.findall(r"[A-Za-z_][\w.-]*\w", text)) | set(terms)


def main(argv: list[str]) -> None:
    local = dict(a.split("=", 1) for a in argv)
    unknown = set(local) - set(PROJECTS)
    if unknown:
        raise SystemExit(f"unknown project(s) {sorted(unknown)}; known: {sorted(PROJECTS)}")
    words = cited_words()
    for project, url in PROJECTS.items():
        source = local.get(project)
        try:
            data = Path(source).read_bytes() if source else urllib.request.urlopen(url + "objects.inv").read()
            entries = read(data)
        except OSError as err:
            if (HERE / f"{project}.inv").exists():
                print(f"{project}: no inventory ({err}); {project}.inv left as it is", file=sys.stderr)
                continue
            print(f"{project}: no inventory ({err}); writing only its EXTRA entries", file=sys.stderr)
            entries = []
        keep = [e for e in entries if e[0] in words]
        have = {(e[0], e[1]) for e in keep}
        keep += [(n, r, "1", u, d) for n, r, u, d in EXTRA.get(project, []) if (n, r) not in have]
        write(HERE / f"{project}.inv", project, keep)
        print(f"{project}: {len(keep)} of {len(entries)} entries")


if __name__ == "__main__":
    main(sys.argv[1:])
