"""Does a sparse (nonzero-counts-only) path pay off? Dense vs SciPy CSR on photon-sparse data.

For Poisson frames of 2000 × 12 320 ROI pixels (the two-time benchmark's three rings) at a
range of mean counts, prints the time of

* one ROI's C2: xpcsnb's dense JAX kernel (compiled, second call) and a SciPy CSR product
  (conversion included), which ``two_time(..., sparse="auto")`` uses below
  :data:`xpcsnb.correlate.gram.SPARSE_OCCUPANCY`;
* the level-0 multi-tau products Σ_t Σ_p I_p(t) I_p(t+τ) for 16 lags: dense NumPy vs CSR
  element-wise products (conversion included).

Usage::

    python bench/sparse_paths.py [--frames 2000] [--pixels 12320]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--pixels", type=int, default=12320)
    a = ap.parse_args()

    import scipy.sparse as sp

    from xpcsnb.correlate.gram import SPARSE_OCCUPANCY, roi_c2

    rng = np.random.default_rng(0)
    print(f"two-time sparse='auto' switches to CSR below occupancy {SPARSE_OCCUPANCY}")
    print("| counts/px/frame | occupancy | two-time dense [s] | two-time CSR [s] | CSR speed-up | "
          "16 lag sums dense [s] | 16 lag sums CSR [s] |")
    print("|---|---|---|---|---|---|---|")
    for rho in (1.0, 0.1, 0.03, 0.01, 0.003):
        x = rng.poisson(rho, (a.frames, a.pixels)).astype(np.uint16)
        roi_c2(x)  # compile
        t = time.perf_counter()
        dense, _ = roi_c2(x)
        t_dense = time.perf_counter() - t
        t = time.perf_counter()
        sparse, _ = roi_c2(x, sparse=True)
        t_sparse = time.perf_counter() - t
        assert np.allclose(dense, sparse, rtol=1e-12, equal_nan=True)
        xf = x.astype(np.float32)
        t = time.perf_counter()
        for tau in range(1, 17):
            np.einsum("tp,tp->", xf[:-tau], xf[tau:])
        t_md = time.perf_counter() - t
        t = time.perf_counter()
        xs = sp.csr_array(x, dtype=np.float32)
        for tau in range(1, 17):
            xs[:-tau].multiply(xs[tau:]).sum()
        t_ms = time.perf_counter() - t
        print(f"| {rho:g} | {np.mean(x > 0):.3f} | {t_dense:.3f} | {t_sparse:.3f} | {t_dense / t_sparse:.2f}× | "
              f"{t_md:.3f} | {t_ms:.3f} |")


if __name__ == "__main__":
    main()
