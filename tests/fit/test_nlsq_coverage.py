"""Item 5 of issue 20: the linearised heterodyne stderr cover the truth over seeds once the data determine the physics.

At 3 × 60² (tests/fit/test_joint.py) the per-angle contrast/offset z-scores have rms 1.36 over seeds
1–8 and the physics 0.64: the weakly determined reference transport makes the least-squares
estimate non-Gaussian there (a fit started at the truth reaches the same minimum, so it is not a
wrong minimum). At 3 × 150² (same frame time, 15 s) both are within the scatter of 1 over the
seeds whose fit succeeds (seed 3 fails honestly: v_offset undetermined; docs/heterodyne.md).
"""

import numpy as np
import pytest

import xpcsnb

TRUTH = dict(D0_ref=2e4, alpha_ref=0.5, D_offset_ref=50.0, D0_sample=5e4, alpha_sample=0.3, D_offset_sample=10.0,
             v0=800.0, beta=0.2, v_offset=5.0, f0=0.5, f1=0.1, f2=0.0, f3=0.1, phi0=3.0)
START = dict(D0_ref=1.5e4, alpha_ref=0.3, D_offset_ref=0.0, D0_sample=3e4, alpha_sample=0.1, D_offset_sample=0.0,
             v0=1000.0, beta=0.1, v_offset=0.0, f0=0.4, f1=0.0, f3=0.2, phi0=0.0)
CONTRAST, OFFSET = [0.3, 0.35, 0.4], [1.0, 1.01, 0.99]


@pytest.mark.slow
def test_heterodyne_stderr_cover_the_truth_over_seeds():
    z_scaling, z_physics, failed = [], [], []
    for seed in range(1, 9):
        ds = xpcsnb.simulate("heterodyne", TRUTH, 0.1 * (np.arange(150) + 1), phi=[0.0, 45.0, 90.0], q=0.0054,
                             contrast=CONTRAST, offset=OFFSET, noise=0.003, seed=seed)
        res = xpcsnb.fit_nlsq(ds, "heterodyne", initial=START)
        if not bool(res["c2_nlsq_success"]):  # an honest failure (e.g. v_offset undetermined) is no estimate
            failed.append(seed)
            continue
        coef, err = res["c2_nlsq_coefficients"], res["c2_nlsq_stderr"]

        def z(name, truth):
            return (float(coef.sel(param=name)) - truth) / float(err.sel(param=name))

        z_physics += [z(n, v) for n, v in TRUTH.items() if n != "f2"]
        z_scaling += [z(f"{b}_{k}", v[k]) for b, v in (("contrast", CONTRAST), ("offset", OFFSET)) for k in range(3)]
    assert len(failed) <= 2, failed
    rms_scaling, rms_physics = np.sqrt(np.mean(np.square(z_scaling))), np.sqrt(np.mean(np.square(z_physics)))
    print(f"failed seeds {failed}; rms scaling {rms_scaling:.3f}, physics {rms_physics:.3f}")
    # ~40 and ~90 z-scores: rms 1 ± 0.1; stderr 35 % too small (or too large) fail
    assert 0.65 < rms_scaling < 1.35, rms_scaling
    assert 0.65 < rms_physics < 1.35, rms_physics
