"""NLSQ benchmark: cold and warm ``fit_nlsq`` time, peak RSS and recovery on synthetic data.

Each case runs in three subprocesses: one simulates the two data sets, one fits them (so its
peak RSS is the imports, the data and the fits alone, not the simulation's), one measures the
reference. It prints: cold time (first fit, including JIT compilation), warm time (second fit
of new data of the same shape), peak RSS of the fitting process, the ratio of the warm fit to
one residual + full Jacobian evaluation (the reference: the raw cost of one iteration of a
solver that forms the Jacobian), and the relative error of each recovered physics parameter.

Usage::

    python bench/nlsq.py                     # all cases
    python bench/nlsq.py --cases static-500 laminar-1000
    python bench/nlsq.py --list

Issue 20 adds a second laminar truth set (``laminar2-*``), heterodyne from the registry
defaults (``heterodyne-300-defaults``) and ``--compare``: the previous engine (no variable
projection, no coarse start search) on the same data, its time, Jacobians and the χ² ratio.

Targets (issue 2, 2-core machine): laminar 3×1000² warm ≤ 5 s with peak RSS ≤ 1 GiB;
static 3×500² warm ≤ 0.5 s. Issue 4: heterodyne 3×300² warm ≤ 5 s (and 3×1000² reported);
the joint multi-q laminar-flow fit of 4 q × 3 angles × 300² reported.

Heterodyne cases use the heterodyne package's grid t_k = dt·(k+1) over a 6 s window and
start from a perturbed truth (``HET_START``): the registry defaults (all exponents 0,
equal reference and sample transport) sit on several exact degeneracies at once.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CASES: dict[str, dict] = {
    "static-500": {"model": "static", "n": 500, "n_phi": 3},
    "static-1000": {"model": "static", "n": 1000, "n_phi": 3},
    "laminar-500": {"model": "laminar_flow", "n": 500, "n_phi": 3},
    "laminar-1000": {"model": "laminar_flow", "n": 1000, "n_phi": 3},
    "laminar2-500": {"model": "laminar_flow", "n": 500, "n_phi": 3, "truth": "laminar_issue20"},
    "laminar2-1000": {"model": "laminar_flow", "n": 1000, "n_phi": 3, "truth": "laminar_issue20"},
    "heterodyne-300-defaults": {"model": "heterodyne", "n": 300, "n_phi": 3, "defaults": True},
    "heterodyne-300": {"model": "heterodyne", "n": 300, "n_phi": 3},
    "heterodyne-1000": {"model": "heterodyne", "n": 1000, "n_phi": 3},
    "laminar-multiq-300": {"model": "laminar_flow", "n": 300, "n_phi": 3, "q": [0.003, 0.0045, 0.006, 0.0075]},
}

TRUTH = {
    "static": {"D0": 1500.0, "alpha": -0.2, "D_offset": 20.0},
    "laminar_flow": {"D0": 1500.0, "alpha": -0.2, "D_offset": 20.0, "gamma_dot_t0": 3e-4, "beta": 0.3,
                     "gamma_dot_t_offset": 2e-5, "phi0": 4.0},
    "laminar_issue20": {"D0": 1e4, "alpha": -0.5, "D_offset": 100.0, "gamma_dot_t0": 1e-4, "beta": 0.3,
                        "gamma_dot_t_offset": 1e-5, "phi0": 5.0},
    "heterodyne": {"D0_ref": 2e4, "alpha_ref": 0.5, "D_offset_ref": 50.0, "D0_sample": 5e4, "alpha_sample": 0.3,
                   "D_offset_sample": 10.0, "v0": 800.0, "beta": 0.2, "v_offset": 5.0, "f0": 0.5, "f1": 0.1,
                   "f2": 0.0, "f3": 0.1, "phi0": 3.0},
}
HET_START = {"D0_ref": 1.5e4, "alpha_ref": 0.3, "D_offset_ref": 0.0, "D0_sample": 3e4, "alpha_sample": 0.1,
             "D_offset_sample": 0.0, "v0": 1000.0, "beta": 0.1, "v_offset": 0.0, "f0": 0.4, "f1": 0.0, "f3": 0.2,
             "phi0": 0.0}


def _setup(name: str) -> tuple[dict, dict, dict]:
    """The case, its truth and the fit keywords."""
    c = CASES[name]
    truth = TRUTH[c.get("truth", c["model"])]
    fit_kwargs = {"initial": HET_START} if c["model"] == "heterodyne" and not c.get("defaults") else {}
    return c, truth, fit_kwargs


def make_data(name: str, path: str) -> None:
    """Simulate the case's two data sets (seeds 0 and 1) and pickle them to ``path``."""
    import pickle

    import numpy as np

    import xpcsnb

    c, truth, _ = _setup(name)
    phi = list(np.linspace(0.0, 90.0, c["n_phi"]))
    heterodyne = c["model"] == "heterodyne"
    t = 6.0 / c["n"] * (np.arange(c["n"]) + 1) if heterodyne else 0.1 * np.arange(c["n"])
    sets = [xpcsnb.simulate(c["model"], truth, t, phi=phi, q=c.get("q", 0.0054), L=2e6, contrast=0.3, offset=1.0,
                            noise=0.003 if heterodyne else 0.01, seed=seed) for seed in (0, 1)]
    with open(path, "wb") as f:
        pickle.dump(sets, f)


def _load(path: str) -> list:
    import pickle

    with open(path, "rb") as f:
        return pickle.load(f)


def run_case(name: str, path: str) -> dict:
    """Fit the case's data (pickled at ``path``) cold and warm in this process; return the measurements.

    The peak RSS is this process's: the imports, the two data sets and the two fits (the data
    are simulated in another process, the reference evaluation runs in another one)."""
    import numpy as np

    import xpcsnb

    c, truth, fit_kwargs = _setup(name)
    ds0, ds1 = _load(path)
    t0 = time.perf_counter()
    xpcsnb.fit_nlsq(ds0, c["model"], **fit_kwargs)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = xpcsnb.fit_nlsq(ds1, c["model"], **fit_kwargs)
    warm = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    coef = res["c2_nlsq_coefficients"]
    err = res["c2_nlsq_stderr"]
    free = {k: v for k, v in truth.items() if bool(res["c2_nlsq_vary"].sel(param=k))}
    rel = {k: float(coef.sel(param=k)) / v - 1 if v != 0 else float(coef.sel(param=k)) for k, v in free.items()}
    z = {k: (float(coef.sel(param=k)) - v) / float(err.sel(param=k)) for k, v in free.items()}
    return {
        "case": name, "n_data": int(res["c2_nlsq_n_data"]), "cold_s": cold, "warm_s": warm,
        "jacobian_evals": int(res["c2_nlsq_n_iterations"]), "n_starts": int(res.attrs["n_starts"]),
        "success": bool(res["c2_nlsq_success"]), "peak_rss_MiB": peak,
        "function_evals": int(res["c2_nlsq_n_function_evals"]), "chi2_red": float(res["c2_nlsq_chi2_red"]),
        "chi2": float(res["c2_nlsq_chi2"]), "rel_err": rel, "z": z,
    }


def reference(name: str, path: str, compare: bool, chi2: float) -> dict:
    """One residual + full Jacobian of the warm data set (the raw cost per iteration), and with
    ``compare`` the previous engine (no projection, no coarse start search) on the same data."""
    import jax.numpy as jnp
    import numpy as np

    from xpcsnb.fit.nlsq import solve
    from xpcsnb.fit.problem import build_problem

    c, _, fit_kwargs = _setup(name)
    ds1 = _load(path)[1]
    problem = build_problem(ds1, c["model"], **fit_kwargs)
    x = jnp.asarray(problem.x0)
    problem.residuals(x).block_until_ready()
    problem.jacobian(x).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(3):
        np.asarray(problem.residuals(x))
        np.asarray(problem.jacobian(x))
    out = {"eval_s": (time.perf_counter() - t0) / 3}
    if compare:
        t0 = time.perf_counter()
        old = solve(problem, projection=False, coarse=False, valley=False)
        out.update({"old_s": time.perf_counter() - t0, "old_chi2": old.chi2, "old_success": old.success,
                    "old_jacobians": old.njev, "chi2_rel_diff": chi2 / old.chi2 - 1})
    return out


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def main() -> None:
    import os
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--data", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--ref", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--compare", action="store_true",
                        help="also fit with the previous engine (projection=False, coarse=False) and compare chi2")
    args = parser.parse_args()
    if args.list:
        print("\n".join(CASES))
        return
    if args.data:
        make_data(*args.data)
        return
    if args.one:
        print(json.dumps(run_case(*args.one)))
        return
    if args.ref:
        print(json.dumps(reference(args.ref[0], args.ref[1], args.compare, float(args.ref[2]))))
        return
    for name in args.cases:
        if name not in CASES:
            raise SystemExit(f"unknown case {name!r}; --list shows them")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "data.pkl")
            _child("--data", name, path)
            r = _child("--one", name, path)
            r.update(_child("--ref", name, path, repr(r["chi2"]), *(["--compare"] if args.compare else [])))
        print(f"{r['case']:>14}: n_data={r['n_data']:>9}  cold {r['cold_s']:7.2f} s  warm {r['warm_s']:7.2f} s  "
              f"peak RSS {r['peak_rss_MiB']:7.0f} MiB  one residual+Jacobian {r['eval_s']:.3f} s  "
              f"warm/eval {r['warm_s'] / r['eval_s']:5.1f}x  ({r['function_evals']} residuals, {r['jacobian_evals']} "
              f"Jacobians, {r['n_starts']} full-data starts, success={r['success']}, chi2_red {r['chi2_red']:.4f})")
        if "old_s" in r:
            print(" " * 16 + f"previous engine: {r['old_s']:.2f} s, {r['old_jacobians']} Jacobians, success="
                  f"{r['old_success']}; chi2 new/old - 1 = {r['chi2_rel_diff']:+.2e}")
        print(" " * 16 + "rel. error: " + ", ".join(f"{k} {v:+.2e}" for k, v in r["rel_err"].items()))
        print(" " * 16 + "(fit-truth)/stderr: " + ", ".join(f"{k} {v:+.2f}" for k, v in r["z"].items()))


if __name__ == "__main__":
    main()
