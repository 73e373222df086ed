"""Independent g2 fits in lockstep: one compiled, batched evaluation serves every ROI's solver.

An independent g2 fit is one small problem per ROI (tens of points, 3–5 parameters) on
the same lag grid, so each residual/Jacobian evaluation is cheap and the cost of a
loop of fits is the per-call overhead of the compiled function, paid once per
evaluation of every ROI. :func:`solve_lockstep` runs the unchanged engine
(:func:`xpcsnb.fit.nlsq.solve`, scipy's TRF) for every problem in its own thread; each
thread's request for ``compressed(x)`` waits until every live solver has made its
request, and then one ``jax.vmap`` of the problems' compiled
:meth:`~xpcsnb.fit.g2problem.G2Problem.compressed` over the ROIs answers them all. The
number of compiled calls is the largest number of evaluations of one ROI instead of
their sum. The numbers are those of the one-at-a-time loop (the batched evaluation is
the same computation per ROI); only the order of the work changes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401
from .g2problem import G2Problem, _compressed_impl

__all__ = ["LOCKSTEP_SIZE", "Lockstep", "solve_lockstep"]

#: Most problems (threads) solved in one lockstep group; more are solved group after group.
LOCKSTEP_SIZE = 128


@partial(jax.jit, static_argnames=("signal", "law_col"))
def _batched(x, consts, index, law_index, q, tau, y, w, *, signal, law_col):
    fn = partial(_compressed_impl, signal=signal, law_col=law_col)
    return jax.vmap(fn, in_axes=(0, 0, 0, 0, 0, None, 0, 0))(x, consts, index, law_index, q, tau, y, w)


class Lockstep:
    """Batched ``compressed(x)`` of same-shaped one-ROI :class:`G2Problem` objects solved in threads.

    ``compressed(r, x)`` is problem r's evaluation: it blocks until every live problem
    has asked (or left with :meth:`leave`), then the last caller evaluates them all in one
    compiled call. A problem that has left (or a call from outside a lockstep run) is
    evaluated on its own.
    """

    def __init__(self, problems: Sequence[G2Problem]) -> None:
        first = problems[0]
        shapes = {(p.y.shape, p.n_free, p.consts.shape, p.index.shape, p.law_col) for p in problems}
        if len(shapes) != 1 or first.y.shape[0] != 1:
            raise ValueError("Lockstep needs one-ROI problems of one shape (the same lag grid and free parameters)")
        self.problems = list(problems)
        self.signal, self.law_col = first.model.signal, first.law_col
        self.args = (jnp.asarray(np.stack([p.consts for p in problems]), dtype=jnp.float64),
                     jnp.asarray(np.stack([p.index for p in problems])),
                     jnp.asarray(np.stack([p.law_index for p in problems])),
                     jnp.asarray(np.stack([np.asarray(p.q, float) for p in problems])), first.tau,
                     jnp.stack([p.y for p in problems]), jnp.stack([p.w for p in problems]))
        self.x = np.stack([np.asarray(p.x0, float) for p in problems])
        self.cond = threading.Condition()
        self.live: set[int] = set()
        self.pending: set[int] = set()
        self.answers: dict[int, Any] = {}

    def compressed(self, r: int, x: Any) -> tuple[np.ndarray, np.ndarray]:
        with self.cond:
            if r not in self.live:
                return _single(self.problems[r], x)
            self.x[r] = np.asarray(x, dtype=float)
            self.pending.add(r)
            if self.pending >= self.live:
                self._evaluate()
            while r not in self.answers:
                self.cond.wait()
            answer = self.answers.pop(r)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def enter(self, r: int) -> None:
        with self.cond:
            self.live.add(r)

    def leave(self, r: int) -> None:
        """Problem r's solver is done: the others no longer wait for it."""
        with self.cond:
            self.live.discard(r)
            if self.pending and self.pending >= self.live:
                self._evaluate()

    def _evaluate(self) -> None:
        """Answer every pending request with one compiled call (holding the lock)."""
        rows = sorted(self.pending)
        self.pending.clear()
        try:
            rt, jt = _batched(self.x, *self.args, signal=self.signal, law_col=self.law_col)
            rt, jt = np.asarray(rt), np.asarray(jt)
            for r in rows:
                self.answers[r] = (rt[r], jt[r])
        except Exception as exc:  # every waiting solver sees the error (none waits forever)
            for r in rows:
                self.answers[r] = exc
        self.cond.notify_all()


def _single(problem: G2Problem, x: Any) -> tuple[np.ndarray, np.ndarray]:
    rt, jt = dataclasses.replace(problem, batch=None).compressed(x)
    return np.asarray(rt), np.asarray(jt)


def solve_lockstep(problems: Sequence[G2Problem], solve_one: Callable[[G2Problem], Any]) -> list[Any]:
    """``[solve_one(p) for p in problems]`` with the evaluations batched across problems (module doc).

    Problems of different shapes (e.g. different fixed parameters) are grouped, in groups
    of at most :data:`LOCKSTEP_SIZE` (one thread each); a group of one runs directly.
    ``solve_one`` must be thread-safe apart from the problem's ``compressed`` calls; an
    exception in one solver is raised after every solver of its group has finished.
    """
    out: list[Any] = [None] * len(problems)
    groups: dict[Any, list[int]] = {}
    for k, p in enumerate(problems):
        groups.setdefault((p.y.shape, p.n_free, p.consts.shape, p.law_col, p.model.name), []).append(k)
    chunks = [m[a:a + LOCKSTEP_SIZE] for m in groups.values() for a in range(0, len(m), LOCKSTEP_SIZE)]
    for members in chunks:
        if len(members) == 1 or problems[members[0]].y.shape[0] != 1:
            for k in members:
                out[k] = solve_one(problems[k])
            continue
        lock = Lockstep([problems[k] for k in members])
        errors: dict[int, BaseException] = {}

        def work(r: int, k: int) -> None:
            try:
                out[k] = solve_one(dataclasses.replace(problems[k], batch=(lock, r)))
            except BaseException as exc:  # re-raised in the calling thread below
                errors[k] = exc
            finally:
                lock.leave(r)

        for r in range(len(members)):
            lock.enter(r)
        threads = [threading.Thread(target=work, args=(r, k), daemon=True) for r, k in enumerate(members)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[min(errors)]
    return out
