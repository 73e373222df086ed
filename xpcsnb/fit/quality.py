"""Statistical quality of a weighted least-squares fit: is χ²_red in its expected range?

With the data's own σ, a correct model leaves χ² ~ χ²(ν) for ν = n − p degrees of freedom,
so χ²_red = χ²/ν has mean 1 and standard deviation √(2/ν). A value more than
:data:`QUALITY_SIGMAS` of these from 1 means that the model does not describe the data or
that σ is wrong (too small when χ²_red ≫ 1: every stderr is then too small by about
√χ²_red; too large when χ²_red ≪ 1). Without σ the residuals set the noise level
(the covariance is scaled by χ²_red) and nothing can be assessed.

The verdict is a separate flag (``fit_quality``): ``success`` keeps saying whether the solver
found a usable minimum, and the message explains a poor fit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["QUALITY_SIGMAS", "fit_quality", "chi2_red_range"]

#: Half-width of the accepted χ²_red range in standard deviations √(2/ν).
QUALITY_SIGMAS = 5.0


def chi2_red_range(dof: int) -> tuple[float, float]:
    """Accepted range of χ²_red for ``dof`` degrees of freedom: 1 ± 5·√(2/ν)."""
    half = QUALITY_SIGMAS * np.sqrt(2.0 / dof)
    return max(0.0, 1.0 - half), 1.0 + half


def fit_quality(chi2_red: float, dof: int, has_sigma: bool) -> tuple[str, str]:
    """``("acceptable" | "poor" | "not assessed", message)`` of a fit.

    Parameters
    ----------
    chi2_red : float
        χ²/ν at the solution.
    dof : int
        ν = n_data − n_params.
    has_sigma : bool
        Whether the residuals were weighted by the data's σ.

    Returns
    -------
    quality : str
        ``"not assessed"`` without σ or degrees of freedom, else ``"acceptable"`` or
        ``"poor"``.
    message : str
        Empty unless the fit is poor: then it names χ²_red, its expected range and the
        likely causes.
    """
    if not has_sigma or dof <= 0 or not np.isfinite(chi2_red):
        return "not assessed", ""
    lo, hi = chi2_red_range(dof)
    if chi2_red > hi:
        return "poor", (f"poor fit: chi2_red = {chi2_red:.4g} is far above 1 (expected {lo:.3g} to {hi:.3g} for "
                        f"{dof} degrees of freedom, {QUALITY_SIGMAS:g} sd): the model does not describe the data "
                        f"or sigma is too small (by about {np.sqrt(chi2_red):.3g}x); the stderr are then too small "
                        "by the same factor; check the model choice and sigma, or refit with scale_covar=True")
    if chi2_red < lo:
        return "poor", (f"poor fit: chi2_red = {chi2_red:.4g} is far below 1 (expected {lo:.3g} to {hi:.3g} for "
                        f"{dof} degrees of freedom): sigma is too large (by about {1 / np.sqrt(chi2_red):.3g}x) "
                        "or the points are not independent; the stderr are too large")
    return "acceptable", ""
