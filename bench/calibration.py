"""Calibration of the CMC posterior: how often do the 90 % intervals cover the truth?

Each simulation draws a static-model data set with its own seed (same truth, new noise),
fits NLSQ, runs CMC with the NLSQ warm start (2 shards), and records whether the 90 %
equal-tailed interval of the combined posterior of every physics parameter contains the
truth. For a calibrated posterior the coverage rate is 0.90 (binomial spread: with 20
simulations × 3 parameters the 95 % range is roughly 0.82–0.97; the three parameters of
one simulation are correlated, so the spread is somewhat larger). The issue's criterion
is a rate between 0.75 and 1.

Usage::

    python bench/calibration.py [--sims 20] [--frames 40] [--shards 2]

The test suite imports :func:`calibrate` and runs a reduced version.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

TRUTH = {"D0": 1e4, "alpha": -0.3, "D_offset": 100.0}


def simulate_one(seed: int, n_frames: int = 40, noise: float = 0.002):
    """One static 2-angle data set (t = 0, 1, ..., n_frames − 1 s; q = 0.0054 1/Å)."""
    from xpcsnb.forward import simulate

    return simulate("static", TRUTH, np.arange(float(n_frames)), phi=[0.0, 45.0], q=0.0054,
                    contrast=[0.3, 0.4], offset=[1.0, 1.01], noise=noise, seed=seed)


def calibrate(n_sims: int = 20, *, n_frames: int = 40, n_shards: int = 2, num_warmup: int = 300,
              num_samples: int = 400, ci_prob: float = 0.9, first_seed: int = 100,
              verbose: bool = False) -> dict:
    """Run ``n_sims`` seeded simulations; return the coverage of the ``ci_prob`` intervals.

    Returns
    -------
    dict
        ``rate`` (covered / total), ``covered``, ``total``, ``per_parameter`` {name: rate},
        ``converged`` (runs without convergence warnings), ``seconds``.
    """
    from xpcsnb.fit.cmc import cmc_warnings, fit_cmc
    from xpcsnb.fit.nlsq import fit_nlsq

    lo_q, hi_q = 0.5 * (1 - ci_prob), 0.5 * (1 + ci_prob)
    hits = {p: 0 for p in TRUTH}
    converged = 0
    t0 = time.perf_counter()
    for n in range(n_sims):
        ds = simulate_one(first_seed + n, n_frames)
        res = fit_nlsq(ds, "static")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = fit_cmc(ds, "static", nlsq=res, n_shards=n_shards, num_warmup=num_warmup,
                           num_samples=num_samples, seed=n, parallel=False, progress=False, warn=False)
        converged += not cmc_warnings(tree)
        post = tree["posterior"]
        line = []
        for p, v in TRUTH.items():
            draws = post[p].values.ravel()
            lo, hi = np.quantile(draws, [lo_q, hi_q])
            ok = bool(lo <= v <= hi)
            hits[p] += ok
            line.append(f"{p} [{lo:.4g}, {hi:.4g}] {'ok' if ok else 'MISS'}")
        if verbose:
            print(f"sim {n:2d} (seed {first_seed + n}): " + "; ".join(line), flush=True)
    total = n_sims * len(TRUTH)
    covered = sum(hits.values())
    return {"rate": covered / total, "covered": covered, "total": total,
            "per_parameter": {p: h / n_sims for p, h in hits.items()}, "converged": converged,
            "seconds": time.perf_counter() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sims", type=int, default=20)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--shards", type=int, default=2)
    args = p.parse_args()
    out = calibrate(args.sims, n_frames=args.frames, n_shards=args.shards, verbose=True)
    print(f"90 % interval coverage: {out['covered']}/{out['total']} = {out['rate']:.3f} "
          f"(target 0.75-1.00); per parameter: "
          + ", ".join(f"{k} {v:.2f}" for k, v in out["per_parameter"].items()))
    print(f"runs without convergence warnings: {out['converged']}/{args.sims}; {out['seconds']:.0f} s "
          f"({args.sims} simulations, 2 angles x {args.frames}^2, {args.shards} shards)")


if __name__ == "__main__":
    main()
