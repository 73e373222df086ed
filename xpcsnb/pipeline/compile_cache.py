"""A persistent JAX compilation cache for the batch path, in this process and on Dask workers.

Every fresh Python process (a command-line run, each Dask worker) traces and compiles
the correlators' and fits' JAX functions before its first file; on small files that
costs far more than the file itself. With a persistent cache
(:func:`jax.experimental.compilation_cache.compilation_cache.set_cache_dir`) a process
loads the executables that any earlier process compiled, instead of compiling them
again. The cache holds compiled code and is trusted by JAX: keep it in a folder only
you can write (the default is in your user cache folder).

The folder is, in order: the one given; ``$XPCSNB_COMPILE_CACHE``;
``$XDG_CACHE_HOME/xpcsnb/jax`` (default ``~/.cache/xpcsnb/jax``). A process whose JAX
configuration already names a cache folder keeps it. Every compiled function is cached
(``jax_persistent_cache_min_compile_time_secs = 0``: the pipeline's functions each
compile quickly, but there are many of them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["CompileCachePlugin", "default_cache_dir", "enable_compile_cache"]

#: Environment variable naming the cache folder.
ENV = "XPCSNB_COMPILE_CACHE"


def default_cache_dir() -> Path:
    """``$XPCSNB_COMPILE_CACHE``, else ``$XDG_CACHE_HOME/xpcsnb/jax`` (``~/.cache/xpcsnb/jax``)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "xpcsnb" / "jax"


def enable_compile_cache(path: str | os.PathLike[str] | None = None) -> str:
    """Use a persistent JAX compilation cache in this process; return its folder.

    Parameters
    ----------
    path : path, optional
        Cache folder (created if missing); default :func:`default_cache_dir`.

    Returns
    -------
    str
        The folder in use: an already configured one is kept, and returned.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    current = jax.config.jax_compilation_cache_dir
    if current:
        return str(current)
    folder = Path(path).expanduser() if path is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the JAX compilation cache folder {folder} ({exc}); give another one "
                      f"(compile_cache=PATH, --compile-cache PATH or ${ENV}) or turn it off "
                      "(compile_cache=False, --compile-cache none)") from exc
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    compilation_cache.set_cache_dir(str(folder))
    return str(folder)


try:  # a Dask worker plugin when distributed is installed
    from distributed import WorkerPlugin as _Base
except ImportError:  # pragma: no cover - distributed is optional
    _Base = object


class CompileCachePlugin(_Base):  # type: ignore[misc,valid-type]
    """Dask worker plugin: :func:`enable_compile_cache` on every worker, also on workers
    started (or restarted) later. ``path=None``: each worker's own default folder."""

    name = "xpcsnb-compile-cache"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else str(path)

    def setup(self, worker: Any) -> None:
        """Called by the worker when the plugin is registered or the worker starts."""
        enable_compile_cache(self.path)
