r"""NUTS on one shard: the tempered posterior in the whitened coordinates, one compiled chain.

Each shard s of S runs NumPyro's NUTS (Hoffman & Gelman 2014) on

.. math:: p(θ)^{1/S} \, \prod_{p \in s} \mathrm{Normal}(c2_p \mid \mathrm{model}_p(θ), σ_p),

the prior tempered by 1/S so that the product of the shard posteriors is the full
posterior (Scott et al. 2016). The model is evaluated element-wise at the shard's
(t1, t2, row) points (:meth:`FitProblem.predict_at`); no N×N matrix is built. σ is the
Dataset's ``sigma`` when present; otherwise one noise level ``noise_sd`` [C2 units] is
sampled with the prior ``HalfNormal(NOISE_PRIOR_SCALE)``. The sampler works in the
whitened coordinates z of :mod:`~xpcsnb.fit.cmc.reparam` (the log-Jacobian is added).

The kernel is used through NumPyro's functional interface (:func:`numpyro.infer.hmc.hmc`
with ``potential_fn_gen``, the data as model arguments; Phan et al. 2019). The spec's
numbers are arguments too (:mod:`~xpcsnb.fit.cmc.traced`), so one chain is compiled once
per spec structure, sampler settings and process (:func:`compiled_chain`) and reused for
every chain, shard and later fit of that structure (another dataset, q, file or rerun).

References
----------
M. D. Hoffman and A. Gelman, "The No-U-Turn Sampler", J. Mach. Learn. Res. 15, 1593 (2014).
D. Phan, N. Pradhan and M. Jankowiak, "Composable effects for flexible and accelerated
probabilistic programming in NumPyro", arXiv:1912.11554 (2019).
S. L. Scott et al., "Bayes and big data: the consensus Monte Carlo algorithm",
Int. J. Manag. Sci. Eng. Manag. 11, 78 (2016), doi:10.1080/17509653.2016.1142191.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ... import _jax  # noqa: F401
from .reparam import Spec, physical_from_z, physical_sites, transform
from .shards import Sampler, ShardTask
from .traced import TracedPrior, spec_numbers, spec_structure, traced_prior, with_numbers

__all__ = ["NOISE_PRIOR_SCALE", "CompiledChain", "log_prior", "log_terms", "chain_runner", "compiled_chain",
           "physical_draws", "iter_shards", "run_shards"]

#: Scale of the HalfNormal prior of ``noise_sd`` [C2 units] when the data carry no sigma.
NOISE_PRIOR_SCALE = 1.0


def log_prior(x: jnp.ndarray, noise: jnp.ndarray | None, spec: Spec) -> jnp.ndarray:
    """Untempered log-prior of the physical free vector x (and of ``noise_sd`` when sampled)."""
    import numpyro.distributions as dist

    lp = sum((p if isinstance(p, TracedPrior) else traced_prior(p)).log_prob(x[a]) for a, p in enumerate(spec.priors))
    if noise is not None:
        lp = lp + dist.HalfNormal(NOISE_PRIOR_SCALE).log_prob(noise)
    return lp


def log_terms(z, y, weight, i, j, k, *, spec: Spec):
    """Tempered log-prior + log-Jacobian, Gaussian log-likelihood and physical values at z.

    ``weight`` is ``1/σ`` at real points and 0 at padding points (sampled noise:
    1 and 0, the noise level is applied here).
    """
    x, noise, logjac = transform(z, spec)
    prior_term = log_prior(x, noise, spec) / spec.n_shards + logjac
    r = (y - spec.problem.predict_at(x, i, j, k)) * weight
    chi2 = jnp.sum(r * r)
    if noise is None:
        loglik = -0.5 * chi2
    else:
        loglik = -0.5 * chi2 / noise**2 - jnp.sum(weight) * jnp.log(noise)
    return prior_term, loglik, physical_sites(x, noise, spec)


class ChainTicker:
    """Host end of the progress reports sent from inside a compiled chain.

    The compiled chain calls :meth:`tick` (through :func:`jax.debug.callback`) every
    ``rate`` NUTS iterations; the ticker forwards the count to ``target``, a callable
    ``(n_iterations) -> None`` that :func:`iter_shards` points at the current chain's
    progress bar (or a queue to the parent process), and ignores it when ``target`` is None.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.target: Callable[[int], None] | None = None

    def tick(self, n: Any) -> None:
        if self.target is not None:
            self.target(int(n))


def progress_rate(total: int) -> int:
    """Iterations between two progress reports: about 50 reports per chain."""
    return max(1, total // 50)


def chain_runner(spec: Spec, s: Sampler, ticker: ChainTicker | None = None):
    """A jitted function running one NUTS chain (warm-up + draws) on one shard's data.

    It uses NumPyro's NUTS kernel through its functional interface
    (:func:`numpyro.infer.hmc.hmc` with ``potential_fn_gen``, the data as model arguments),
    so it is compiled once per fit and process and reused for every chain and shard.
    The potential is ``−(tempered log-prior + log-Jacobian + log-likelihood)`` in z.
    With a ``ticker`` the chain reports its progress every ``ticker.rate`` iterations.
    """
    from numpyro.infer.hmc import hmc

    def potential_gen(y, weight, i, j, k):
        def potential(params):
            prior_term, loglik, _ = log_terms(params["z"], y, weight, i, j, k, spec=spec)
            return -(prior_term + loglik)

        return potential

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")
    dim = int(spec.center.shape[0])

    def run_chain(key, y, weight, i, j, k):
        k_init, k_run = jax.random.split(key)
        args = (y, weight, i, j, k)
        z0 = jax.random.uniform(k_init, (dim,), minval=-s.init_radius, maxval=s.init_radius)
        state = init_kernel({"z": z0}, s.num_warmup, dense_mass=s.dense_mass, target_accept_prob=s.target_accept,
                            max_tree_depth=s.max_tree_depth, model_args=args, rng_key=k_run)

        def report(it):
            if ticker is not None:
                jax.lax.cond((it + 1) % ticker.rate == 0,
                             lambda: jax.debug.callback(ticker.tick, ticker.rate), lambda: None)

        def warm(st, it):
            report(it)
            return sample_kernel(st, model_args=args), None

        def draw(st, it):
            report(it + s.num_warmup)
            st = sample_kernel(st, model_args=args)
            return st, (st.z["z"], st.energy, st.num_steps, st.accept_prob, st.diverging, st.potential_energy)

        state, _ = jax.lax.scan(warm, state, jnp.arange(s.num_warmup))
        state, out = jax.lax.scan(draw, state, jnp.arange(s.num_samples))
        return out, state.adapt_state.step_size, jnp.isfinite(state.potential_energy)

    return jax.jit(run_chain)


#: Compiled chains and draw maps by (kind, spec structure, sampler settings, progress): the last
#: few are kept for later fits in this process (JAX's own cache keys on the function object,
#: which is new for every spec). Guarded by a lock: Dask workers run tasks in threads.
_COMPILED: dict[tuple[Any, ...], Any] = {}
_KEEP = 8
_LOCK = threading.Lock()


def _cached(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """The entry of ``key`` (made by ``build()`` when missing), kept as the most recently used."""
    with _LOCK:
        hit = _COMPILED.pop(key, None)
        if hit is None:
            hit = build()
            while len(_COMPILED) >= _KEEP:
                _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = hit
        return hit


class CompiledChain(NamedTuple):
    """A compiled NUTS chain of one spec structure (:func:`compiled_chain`).

    ``fn(key, y, weight, i, j, k, numbers)`` runs one chain (warm-up + draws) on one shard's
    data for the spec whose :func:`~xpcsnb.fit.cmc.traced.spec_numbers` are ``numbers``; it
    returns the draws ``(z, energy, n_steps, accept_prob, diverging, potential_energy)``, the
    adapted step size, whether the final log-density is finite, and the physical draws
    ``{name: (draw, ...)}``. ``ticker`` receives its progress reports (None: no reports).
    """

    fn: Any
    ticker: ChainTicker | None


def compiled_chain(spec: Spec, s: Sampler, progress: bool = False) -> CompiledChain:
    """The chain of :func:`chain_runner` for every spec of ``spec``'s structure, compiled once per process.

    Compiling NUTS takes seconds; the chain of a small fit runs in a fraction of that. With the
    spec's numbers as arguments, every fit of the same structure (another dataset, q, file or
    a rerun with other priors) reuses the compiled chain. It is the computation of
    ``chain_runner(spec, s)`` with the numbers as arguments instead of folded constants: with
    the same key its draws agree with that chain's to rounding (which, as in any chaotic
    sampler, may grow over long runs); the same inputs always give the same draws.
    """
    def build() -> CompiledChain:
        ticker = ChainTicker(progress_rate(s.num_warmup + s.num_samples)) if progress else None

        def run(key, y, weight, i, j, k, numbers):
            sp = with_numbers(spec, numbers)
            out, step, finite = chain_runner(sp, s, ticker)(key, y, weight, i, j, k)
            return out, step, finite, jax.vmap(lambda z: physical_from_z(z, sp))(out[0])

        return CompiledChain(jax.jit(run), ticker)

    return _cached(("chain", spec_structure(spec), s, bool(progress)), build)


def physical_draws(spec: Spec, z: Any) -> dict[str, np.ndarray]:
    """Physical draws ``{name: (n, ...)}`` at whitened draws ``z`` (n, dim), compiled once per spec structure."""
    def build() -> Any:
        return jax.jit(lambda zz, numbers: jax.vmap(lambda v: physical_from_z(v, with_numbers(spec, numbers)))(zz))

    fn = _cached(("sites", spec_structure(spec)), build)
    return {n: np.asarray(v) for n, v in fn(jnp.asarray(z), spec_numbers(spec)).items()}


def run_shards(tasks: Sequence[ShardTask], progress_queue: Any = None) -> list[dict[str, Any]]:
    """Run NUTS on shards of one fit, one after the other (see :func:`iter_shards`).

    ``progress_queue`` (a :class:`multiprocessing.Manager` queue) receives the chains'
    progress as ``(pid, shard, chain, iterations, total)`` tuples (see :func:`xpcsnb.fit.cmc.executors.watch_queue`).
    """
    if progress_queue is None:
        return list(iter_shards(tasks))
    pid = os.getpid()

    def reporter(shard: int, chain: int, total: int) -> Callable[[int], None]:
        progress_queue.put((pid, shard, chain, 0, total))
        return lambda n: progress_queue.put((pid, shard, chain, n, total))

    return list(iter_shards(tasks, chain_progress=reporter))


def iter_shards(tasks: Sequence[ShardTask],
                chain_progress: Callable[[int, int, int], Callable[[int], None]] | None = None,
                ) -> Iterator[dict[str, Any]]:
    """Run NUTS on shards of one fit, one after the other, with one compiled sampler.

    All tasks must share the spec, the sampler settings and the (padded) data shape.
    Chain c of shard s uses ``jax.random.split(key_s, num_chains)[c]``; the numbers do
    not depend on which process or in which order the shards run.

    ``chain_progress(shard, chain, total)``, when given, is called as each chain starts
    and returns a callable that receives the number of NUTS iterations (warm-up +
    draws, ``total`` in all) done since its last call, about 50 times per chain.

    Yields
    ------
    dict
        Per shard: ``z`` (chain, draw, dim) whitened draws; ``sites`` {name: (chain, draw,
        ...)} physical draws; ``stats`` {name: (chain, draw)}; ``step_size`` (chain,);
        ``elapsed_s``; ``n_points``. Plain NumPy (picklable, for any executor).
    """
    if not tasks:
        return
    spec, s = tasks[0].spec, tasks[0].sampler
    total = s.num_warmup + s.num_samples
    run_chain, ticker = compiled_chain(spec, s, progress=chain_progress is not None)
    numbers = spec_numbers(spec)
    for task in tasks:
        if task.spec is not spec or task.sampler != s:
            raise ValueError("iter_shards needs tasks of one fit (same spec and sampler settings)")
        t0 = time.perf_counter()
        keys = jax.random.split(jax.random.wrap_key_data(jnp.asarray(task.key_data, dtype=jnp.uint32)), s.num_chains)
        data = tuple(jnp.asarray(a) for a in (task.y, task.weight, task.i, task.j, task.k))
        per_chain, steps, sites_c = [], [], []
        for c in range(s.num_chains):
            if ticker is not None:
                ticker.target = chain_progress(task.index, c, total)
            out, step, finite, sites_chain = run_chain(keys[c], *data, numbers)
            if ticker is not None:
                jax.effects_barrier()  # every progress callback has run
                rest = total - (total // ticker.rate) * ticker.rate
                if rest:
                    ticker.target(rest)
                ticker.target = None
            if not bool(finite):
                raise FloatingPointError(f"shard {task.index}, chain {c}: the log-density is not finite at the "
                                         "end of sampling; check the data, bounds and priors")
            per_chain.append([np.asarray(a) for a in out])
            steps.append(float(step))
            sites_c.append(sites_chain)
        z, energy, n_steps, accept, diverging, potential = (np.stack(a) for a in zip(*per_chain))
        sites = {n: np.stack([np.asarray(sc[n]) for sc in sites_c]) for n in sites_c[0]}
        stats = {"energy": energy, "n_steps": n_steps, "acceptance_rate": accept, "diverging": diverging,
                 "lp": -potential}
        yield {"index": task.index, "z": z, "sites": sites, "stats": stats, "step_size": np.asarray(steps),
               "elapsed_s": time.perf_counter() - t0, "n_points": task.n_points}

