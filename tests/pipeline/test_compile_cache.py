"""The persistent JAX compilation cache of the batch path (pipeline.compile_cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from xpcsnb.pipeline.compile_cache import ENV, default_cache_dir, enable_compile_cache

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, jax, jax.numpy as jnp
from xpcsnb.pipeline.compile_cache import enable_compile_cache
jax.jit(lambda x: x + 1)(jnp.ones(3))          # a compile before the cache is enabled
print(enable_compile_cache(sys.argv[1]))
print(float(jax.jit(lambda x: jnp.sin(x).sum() * 3)(jnp.arange(5.0))))
"""


@pytest.fixture(autouse=True)
def _no_session_cache():
    """These tests start from a process with no persistent cache (the suite's own, set by
    tests/conftest.py for speed, is put aside for the test and restored after it)."""
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    yield
    jax.config.update("jax_compilation_cache_dir", before)


def _run(folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_a_fresh_process_writes_and_a_second_reuses_the_cache(tmp_path):
    folder = tmp_path / "cache"
    first = _run(folder)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == str(folder)
    entries = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert entries  # the compile after enabling was written (also after an earlier compile)
    second = _run(folder)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[1] == first.stdout.splitlines()[1]
    assert {p.name for p in folder.iterdir()} == set(entries)  # loaded, nothing compiled anew


def test_default_folder_and_an_existing_setting_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "xpcsnb" / "jax"
    before = jax.config.jax_compilation_cache_dir
    assert not before  # no persistent cache configured (the fixture above)
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "theirs"))
    try:
        assert enable_compile_cache(tmp_path / "ours") == str(tmp_path / "theirs")
        assert not (tmp_path / "ours").exists()
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_an_unusable_folder_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="cannot create the JAX compilation cache folder .*--compile-cache none"):
        enable_compile_cache(blocker / "cache")
    assert not jax.config.jax_compilation_cache_dir  # left alone


def test_batch_refuses_a_bad_compile_cache(tmp_path):
    from xpcsnb.pipeline import batch

    raw = tmp_path / "a.h5"
    raw.write_bytes(b"")
    with pytest.raises(TypeError, match="compile_cache must be True, False or a folder path"):
        batch(raw, qmap=str(tmp_path / "q.h5"), output=tmp_path / "out", compile_cache=3)
