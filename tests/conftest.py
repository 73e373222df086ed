"""Shared truths and session-scoped simulated data sets for the whole test suite.

Every test that needs "a laminar-flow truth" or "a small noisy static set" takes it from
here, so that the suite simulates each set once per worker and all tests agree on the
numbers.
"""

from __future__ import annotations

import os
import tempfile

import pytest

# One persistent JAX compilation cache for the whole run: the pytest-xdist workers, the
# subprocesses the tests start and the notebook kernels inherit this variable, so a function
# compiled by one of them (the NUTS chains above all, rebuilt by every CMC call) is loaded, not
# compiled again, by the others. A fresh folder per run: no state carried between runs.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="xpcsnb-test-jax-cache-"))

from truths import CONTRAST, OFFSET, PHI, TRUTHS, simulate_set  # noqa: F401  (re-exported)


@pytest.fixture(scope="session")
def truths():
    """Physics truths by model name (read-only mappings)."""
    return TRUTHS


@pytest.fixture(scope="session")
def static_set():
    """Static model, 3 angles × 40², 1 % noise, seed 0 (simulated once per session)."""
    return simulate_set("static")


@pytest.fixture(scope="session")
def laminar_set():
    """Laminar flow, 3 angles × 40², 1 % noise, seed 0."""
    return simulate_set("laminar_flow")


@pytest.fixture(scope="session")
def multiq_set():
    """Static model on 3 q × 3 φ × 30², 1 % noise (a multi-q Dataset, q as a dimension)."""
    return simulate_set("static", n=30, q=[0.004, 0.0054, 0.007])


def pytest_collection_modifyitems(config, items):
    """Run the long items first (notebooks, then test modules with a test marked ``slow``).

    The README runs pytest-xdist with ``--dist worksteal``: each worker starts on a contiguous
    share of this order and an idle worker takes the tail of a busy one's queue. Long items at
    the front of that queue are never the ones left at the end, so both workers finish together
    (with the default ``load`` schedule the first worker kept every long item while the second
    sat idle for minutes). A module moves as a whole, in its own order, so that its
    module-scoped fixtures are set up once per worker that runs it.
    """
    def rank(item) -> int:
        if item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid:
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    module_rank: dict[str, int] = {}
    for item in items:
        key = item.nodeid.split("::")[0]
        module_rank[key] = min(module_rank.get(key, 2), rank(item))
    order = {id(item): k for k, item in enumerate(items)}
    items.sort(key=lambda item: (module_rank[item.nodeid.split("::")[0]], order[id(item)]))
