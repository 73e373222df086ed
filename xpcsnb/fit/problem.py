"""The fit problem: data + model + free/fixed parameters + bounds → residuals.

Both engines (NLSQ and CMC) take their objective from :class:`FitProblem`; neither
knows which model it fits.

Residual support
----------------
The diagonal ``t1 = t2`` carries the shot-noise spike and is excluded from every
residual and likelihood (``diagonal="exclude"``, the only rule). When the data are
symmetric in (t1, t2) (as every correlator and the APS files produce them) only the
upper triangle ``i < j`` is used: the lower triangle repeats the same measurements,
and counting them twice would halve χ² per independent point and shrink every stderr
by √2. Non-symmetric data use all off-diagonal points. The choice is recorded as
``support`` ("upper" or "offdiag").

Rows and multi-q
----------------
The residuals are indexed by (i ↔ t1, j ↔ t2, k ↔ row). A row is one (q, φ) pair: for
a single-q Dataset (phi, t1, t2) the rows are its angles; for a multi-q Dataset
(q, phi, t1, t2) the rows are all (q, φ) pairs, q-major (row ``k = a·n_phi + p`` for
q index a and angle index p). The physics parameters are shared by every row (the
model sees q per row through its grid), the scaling is per row (``individual``:
``contrast_q<a>_<p>``, ``offset_q<a>_<p>``), shared, or fixed.

Default-fixed parameters
------------------------
A model may hold parameters fixed by default (``Model.default_fixed``: exact
degeneracies, e.g. heterodyne ``f2 = 0``). ``fixed=`` overrides their values and
``free=`` releases them (:meth:`~xpcsnb.fit.spec.FitSpec.fixed_for`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .. import _jax  # noqa: F401
from ..core.twotime import q_value, time_step, validate_twotime
from ..models import get_model, make_grid
from ..models.base import Grid, Model
from ..models.parameters import SCALING
from ..models.scaling import apply_scaling, base_name, expand_scaling, model_c2, per_angle, scaling_names
from .spec import FitSpec, as_spec

__all__ = ["FitProblem", "build_problem", "support_indices", "initial_scaling"]

#: Relative asymmetry below which C2 is treated as symmetric.
SYMMETRY_RTOL = 1e-12


def support_indices(n: int, n_phi: int, support: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (i ↔ t1, j ↔ t2, k ↔ angle) of the residual support.

    ``support="upper"``: i < j; ``"offdiag"``: i ≠ j. Ordered angle-major.
    """
    if support == "upper":
        i, j = np.triu_indices(n, k=1)
    elif support == "offdiag":
        ii, jj = np.nonzero(~np.eye(n, dtype=bool))
        i, j = ii, jj
    else:
        raise ValueError(f"support must be 'upper' or 'offdiag', got {support!r}")
    m = i.size
    k = np.repeat(np.arange(n_phi, dtype=np.int32), m)
    return np.tile(i.astype(np.int32), n_phi), np.tile(j.astype(np.int32), n_phi), k


def initial_scaling(c2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-angle starting (contrast, offset) from data quantiles.

    offset₀ = 5th percentile of the off-diagonal values, contrast₀ = mean of the first
    off-diagonal minus offset₀; both clipped into the registry bounds.
    """
    n_phi, n, _ = c2.shape
    off = ~np.eye(n, dtype=bool)
    lo = np.percentile(c2[:, off], 5, axis=1)
    near = np.array([np.mean(np.diagonal(c2[k], 1)) for k in range(n_phi)])
    c, o = SCALING["contrast"], SCALING["offset"]
    offset0 = np.clip(lo, o.lower + 1e-3, o.upper - 1e-3)
    contrast0 = np.clip(near - offset0, 1e-2, c.upper - 1e-3)
    return contrast0, offset0


@dataclass(frozen=True)
class FitProblem:
    """A least-squares/likelihood problem on the support points of one two-time Dataset.

    Attributes
    ----------
    model : Model
    grid : Grid
    names : tuple of str
        Free parameter names, physics first (registry order), then scaling.
    lower, upper, x0 : ndarray
        Bounds and start of the free parameters.
    theta_fixed : ndarray
        Full physics vector holding the values of fixed parameters.
    free_physics : ndarray of int
        Positions of the free physics parameters in the full physics vector.
    scaling : str
        ``individual``, ``shared`` or ``fixed``.
    fixed_scaling : (ndarray, ndarray) or None
        Per-angle (contrast, offset) when ``scaling="fixed"``.
    y, sigma : jax arrays, shape (n,)
        Data and standard deviations at the support points.
    i, j, k : jax int arrays, shape (n,)
        Support points (t1 index, t2 index, row index; a row is an angle, or a (q, φ)
        pair of a multi-q Dataset).
    shape : (int, int, int)
        (n_rows, N, N).
    n_q : int or None
        Number of q values of a multi-q Dataset (rows are q-major); None for a
        Dataset without a q dimension.
    """

    model: Model
    grid: Grid
    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    x0: np.ndarray
    theta_fixed: np.ndarray
    free_physics: np.ndarray
    fixed_physics: dict[str, float]
    scaling: str
    fixed_scaling: tuple[np.ndarray, np.ndarray] | None
    y: jnp.ndarray
    sigma: jnp.ndarray
    has_sigma: bool
    i: jnp.ndarray
    j: jnp.ndarray
    k: jnp.ndarray
    support: str
    shape: tuple[int, int, int]
    info: dict[str, Any] = field(default_factory=dict)
    n_q: int | None = None

    @property
    def n_free(self) -> int:
        """Number of free parameters."""
        return len(self.names)

    @property
    def n_data(self) -> int:
        """Number of residuals."""
        return int(self.y.shape[0])

    @property
    def n_physics_free(self) -> int:
        """Number of free physics parameters (they come first in ``names``)."""
        return int(self.free_physics.size)

    def _static(self) -> dict[str, Any]:
        return {"signal": self.model.signal, "scaling": self.scaling, "n_phi": self.shape[0]}

    def _fixed_scaling(self) -> tuple[jnp.ndarray, jnp.ndarray]:
        if self.fixed_scaling is None:
            return jnp.zeros(self.shape[0]), jnp.zeros(self.shape[0])
        return jnp.asarray(self.fixed_scaling[0]), jnp.asarray(self.fixed_scaling[1])

    def unpack(self, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
        """Full physics vector and per-angle (contrast, offset) from the free vector."""
        return _unpack(x, jnp.asarray(self.theta_fixed), jnp.asarray(self.free_physics),
                       self._fixed_scaling(), self.scaling, self.shape[0])

    def predict_at(self, x: jnp.ndarray, i: jnp.ndarray, j: jnp.ndarray, k: jnp.ndarray) -> jnp.ndarray:
        """Model C2 at given points (t1 index i, t2 index j, angle index k), shape (n,)."""
        return _predict_at(x, jnp.asarray(self.theta_fixed), jnp.asarray(self.free_physics),
                           self._fixed_scaling(), self.grid, i, j, k, **self._static())

    def predict(self, x: jnp.ndarray) -> jnp.ndarray:
        """Model C2 at the support points, shape (n,)."""
        return self.predict_at(x, self.i, self.j, self.k)

    def residuals(self, x: jnp.ndarray) -> jnp.ndarray:
        """Weighted residuals ``(y − model)/σ`` at the support points (compiled once per shape)."""
        return _residuals(x, jnp.asarray(self.theta_fixed), jnp.asarray(self.free_physics),
                          self._fixed_scaling(), self.grid, self.y, self.sigma, self.i, self.j, self.k,
                          **self._static())

    def jacobian(self, x: jnp.ndarray) -> jnp.ndarray:
        """Exact Jacobian of :meth:`residuals` (forward-mode JAX), shape (n, n_free)."""
        return _jacobian(x, jnp.asarray(self.theta_fixed), jnp.asarray(self.free_physics),
                         self._fixed_scaling(), self.grid, self.y, self.sigma, self.i, self.j, self.k,
                         **self._static())

    def compressed(self, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """Residuals and Jacobian at ``x`` compressed to n_free + 1 rows by an orthogonal transform.

        Returns ``(r̃, J̃)``, shapes (p + 1,) and (p + 1, p), with ``J̃ᵀJ̃ = JᵀJ``,
        ``J̃ᵀr̃ = Jᵀr`` and ``r̃ᵀr̃ = rᵀr`` for the weighted residuals r and their
        Jacobian J: ``[J̃ | r̃]`` is the R factor of a QR decomposition of ``[J | r]``.
        One compiled pass; the n × p Jacobian never leaves XLA.
        """
        blocked = self._rows_blocked()
        r_t, j_t = _compressed(x, jnp.asarray(self.theta_fixed), jnp.asarray(self.free_physics),
                               self._fixed_scaling(), self.grid, self.y, self.sigma, self.i, self.j, self.k,
                               blocked=blocked, **self._static())
        return r_t, j_t

    def _rows_blocked(self) -> bool:
        """Whether the support is ordered row by row in equal blocks (as :func:`build_problem` makes it)."""
        cached = self.__dict__.get("_blocked")
        if cached is None:
            k = np.asarray(self.k)
            n_rows = self.shape[0]
            cached = bool(k.size % n_rows == 0
                          and np.array_equal(k, np.repeat(np.arange(n_rows), k.size // n_rows)))
            object.__setattr__(self, "_blocked", cached)
        return cached

    def predict_full(self, x: jnp.ndarray) -> jnp.ndarray:
        """Model C2 on the whole grid, shape (n_rows, N, N) (see :meth:`rows_to_dataset_shape`)."""
        return _predict_full(x, jnp.asarray(self.theta_fixed), jnp.asarray(self.free_physics),
                             self._fixed_scaling(), self.grid, model=self.model, scaling=self.scaling,
                             n_phi=self.shape[0])

    def numbers(self) -> dict[str, Any]:
        """The problem's numbers that compiled code may take as arguments: the fixed physics values,
        the fixed scaling (when ``scaling="fixed"``) and the grid (see ``xpcsnb.fit.cmc.traced``)."""
        out = {"theta_fixed": np.asarray(self.theta_fixed, float), "grid": jax.tree.map(np.asarray, self.grid)}
        if self.fixed_scaling is not None:
            out["fixed_scaling"] = tuple(np.asarray(a, float) for a in self.fixed_scaling)
        return out

    def with_numbers(self, numbers: Mapping[str, Any]) -> "FitProblem":
        """This problem carrying ``numbers`` (as from :meth:`numbers`, possibly traced)."""
        return dataclasses.replace(self, theta_fixed=numbers["theta_fixed"], grid=numbers["grid"],
                                   fixed_scaling=numbers.get("fixed_scaling"))

    def structure(self) -> tuple[Any, ...]:
        """What problems must share for one compiled function to serve them with their :meth:`numbers`
        (hashable): the model's signal, free and fixed parameters' positions, scaling and shapes."""
        return (self.model.name, self.model.signal, self.scaling, self.shape, self.n_q, self.has_sigma,
                np.asarray(self.free_physics).tobytes(), self.fixed_scaling is None,
                tuple(np.shape(a) for a in self.grid))

    def rows_to_dataset_shape(self, a: np.ndarray) -> np.ndarray:
        """Reshape a per-row array (n_rows, ...) to the Dataset's (phi, ...) or (q, phi, ...)."""
        a = np.asarray(a)
        if self.n_q is None:
            return a
        return a.reshape((self.n_q, self.shape[0] // self.n_q) + a.shape[1:])

    def values(self, x: np.ndarray) -> dict[str, float]:
        """All parameter values (free and fixed) by name."""
        out = dict(self.fixed_physics)
        out.update({n: float(v) for n, v in zip(self.names, np.asarray(x))})
        return out


def _is_symmetric(c2: np.ndarray) -> bool:
    scale = max(np.max(np.abs(c2)), 1e-300)
    return bool(np.max(np.abs(c2 - np.swapaxes(c2, -1, -2))) <= SYMMETRY_RTOL * scale)


def _rows_scaling(name: str, value: Any, n_q: int | None, n_phi: int) -> np.ndarray:
    """Fixed per-row scaling: a scalar, one value per angle, or (for multi-q) one per (q, φ)."""
    if n_q is None:
        return per_angle(name, value, n_phi)
    v = np.asarray(value, dtype=float)
    if v.shape == (n_q, n_phi):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be finite, got {v.tolist()}")
        return v.reshape(-1)
    return np.tile(per_angle(name, v, n_phi), n_q)


def build_problem(
    ds: xr.Dataset,
    model: str | Model,
    spec: FitSpec | None = None,
    *,
    scaling: str | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    initial: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    free: Sequence[str] | None = None,
    contrast: float | Sequence[float] | None = None,
    offset: float | Sequence[float] | None = None,
    support: str = "auto",
) -> FitProblem:
    """Build the :class:`FitProblem` of fitting ``model`` to the two-time Dataset ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset (``c2`` (phi, t1, t2), optional ``sigma``), or a multi-q one
        (``c2`` (q, phi, t1, t2)): then one problem with shared physics over every q
        and per-(q, φ) scaling (see the module doc).
    model : str or Model
        ``"static"``, ``"laminar_flow"`` or ``"heterodyne"``.
    spec : FitSpec, optional
        The fit set-up (:class:`~xpcsnb.fit.spec.FitSpec`); or give its fields as keywords.
    scaling, bounds, initial, fixed, free, contrast, offset
        The :class:`~xpcsnb.fit.spec.FitSpec` fields, when ``spec`` is not given (scaling
        default ``"individual"``). Names as in the result, e.g. ``"D0"``,
        ``"contrast_1"``, ``"offset"``, ``"contrast_q0_1"``.
    support : {"auto", "upper", "offdiag"}
        Residual support; "auto" picks "upper" for symmetric data.

    Raises
    ------
    ValueError
        For unknown names, bounds or start values for fixed parameters, bounds not
        enclosing the start, or missing inputs (the set-up's own checks:
        :class:`~xpcsnb.fit.spec.FitSpec`).
    """
    spec = as_spec(spec, scaling=scaling, bounds=bounds, initial=initial, fixed=fixed, free=free,
                   contrast=contrast, offset=offset)
    validate_twotime(ds)
    mdl = get_model(model)
    if mdl.kind != "twotime":
        raise ValueError(f"model {mdl.name!r} is a {mdl.kind} model, not a two-time one; turn the two-time Dataset "
                         "into g2 first (ds.xpcs.g2_from_c2()) and fit that, or choose a two-time model")
    phys = mdl.parameters
    phys_names = [p.name for p in phys]
    multi_q = "q" in ds["c2"].dims
    c2 = ds["c2"].values
    n_q = c2.shape[0] if multi_q else None
    n_phi, n = c2.shape[-3], c2.shape[-1]
    n_rows = (n_q or 1) * n_phi
    c2 = c2.reshape(n_rows, n, n)
    if n < 3:
        raise ValueError(f"a fit needs at least 3 frames, got {n}")
    L = ds.attrs.get("L")
    if mdl.needs_L and L is None:
        raise ValueError(f"model {mdl.name!r} needs the gap L [Å]: set ds.attrs['L'] (e.g. via xpcsnb.twotime(..., L=...))")
    phi = ds["phi"].values
    if multi_q:
        q_values = ds["q"].values.astype(float)
        grid = make_grid(ds["t1"].values, np.tile(phi, n_q), np.repeat(q_values, n_phi), L)
    else:
        grid = make_grid(ds["t1"].values, phi, q_value(ds), L)

    fixed = spec.fixed_for(mdl)
    initial, bounds, scaling = spec.initial, spec.bounds, spec.scaling

    scale_names = scaling_names(scaling, n_phi, n_q)
    fixed_scaling = None
    if scaling == "fixed":
        fixed_scaling = (_rows_scaling("contrast", spec.contrast, n_q, n_phi),
                         _rows_scaling("offset", spec.offset, n_q, n_phi))

    all_names = phys_names + scale_names
    for name in list(bounds) + list(initial):
        if name not in all_names:
            raise ValueError(f"unknown parameter {name!r}; the free parameters are {all_names}")

    c0, o0 = initial_scaling(c2)
    if scaling == "individual":
        guesses = np.concatenate([c0, o0])
    elif scaling == "shared":
        guesses = np.array([np.mean(c0), np.mean(o0)])
    else:
        guesses = np.array([])
    theta_fixed = np.array([fixed.get(p.name, initial.get(p.name, p.initial)) for p in phys], dtype=float)
    free_idx = np.array([k for k, p in enumerate(phys) if p.name not in fixed], dtype=np.int32)
    names: list[str] = []
    lo: list[float] = []
    hi: list[float] = []
    x0: list[float] = []
    for k in free_idx:
        p = phys[k]
        names.append(p.name)
        b = bounds.get(p.name, (p.lower, p.upper))
        lo.append(float(b[0]))
        hi.append(float(b[1]))
        x0.append(float(initial.get(p.name, theta_fixed[k])))
    for name, guess in zip(scale_names, guesses):
        p = SCALING[base_name(name)]
        b = bounds.get(name, (p.lower, p.upper))
        names.append(name)
        lo.append(float(b[0]))
        hi.append(float(b[1]))
        x0.append(float(initial.get(name, np.clip(guess, b[0], b[1]))))
    lo_a, hi_a, x0_a = np.array(lo), np.array(hi), np.array(x0)
    for nm, a, b_, v in zip(names, lo_a, hi_a, x0_a):
        if not (np.isfinite(a) and np.isfinite(b_) and a < b_):
            raise ValueError(f"bounds of {nm!r} must be finite with lower < upper, got ({a}, {b_})")
        if not a <= v <= b_:
            raise ValueError(f"initial value of {nm!r} = {v} is outside its bounds [{a}, {b_}]")

    if support == "auto":
        support = "upper" if mdl.symmetric and _is_symmetric(c2) else "offdiag"
    elif support == "upper" and not _is_symmetric(c2):
        raise ValueError("support='upper' needs C2 symmetric in (t1, t2); these data are not (use 'offdiag')")
    i, j, k = support_indices(n, n_rows, support)
    y = c2[k, i, j]
    has_sigma = "sigma" in ds
    sigma = ds["sigma"].transpose(*ds["c2"].dims).values.reshape(n_rows, n, n)[k, i, j] if has_sigma \
        else np.ones_like(y)

    return FitProblem(
        model=mdl,
        grid=grid,
        names=tuple(names),
        lower=lo_a,
        upper=hi_a,
        x0=x0_a,
        theta_fixed=theta_fixed,
        free_physics=free_idx,
        fixed_physics={n_: float(v) for n_, v in fixed.items()},
        scaling=scaling,
        fixed_scaling=fixed_scaling,
        y=jnp.asarray(y),
        sigma=jnp.asarray(sigma),
        has_sigma=has_sigma,
        i=jnp.asarray(i),
        j=jnp.asarray(j),
        k=jnp.asarray(k),
        support=support,
        shape=(n_rows, n, n),
        info={"phi": phi.tolist(), "q": q_values.tolist() if multi_q else q_value(ds),
              "dt": time_step(ds), "L": None if L is None else float(L),
              "default_fixed": sorted(n_ for n_ in mdl.default_fixed if n_ in fixed)},
        n_q=n_q,
    )


_STATIC = ("signal", "scaling", "n_phi")


def _unpack(x, theta_fixed, free_physics, fixed_scaling, scaling, n_phi):
    m = free_physics.shape[0]
    theta = theta_fixed.at[free_physics].set(x[:m])
    contrast, offset = expand_scaling(scaling, x[m:], n_phi, fixed_scaling)
    return theta, contrast, offset


def _predict_at_impl(x, theta_fixed, free_physics, fixed_scaling, grid, i, j, k, *, signal, scaling, n_phi):
    theta, contrast, offset = _unpack(x, theta_fixed, free_physics, fixed_scaling, scaling, n_phi)
    return apply_scaling(signal(theta, grid, i, j, k), contrast, offset, k)


def _residuals_impl(x, theta_fixed, free_physics, fixed_scaling, grid, y, sigma, i, j, k, *, signal, scaling, n_phi):
    pred = _predict_at_impl(x, theta_fixed, free_physics, fixed_scaling, grid, i, j, k,
                            signal=signal, scaling=scaling, n_phi=n_phi)
    return (y - pred) / sigma


def _predict_full_impl(x, theta_fixed, free_physics, fixed_scaling, grid, *, model, scaling, n_phi):
    theta, contrast, offset = _unpack(x, theta_fixed, free_physics, fixed_scaling, scaling, n_phi)
    return model_c2(model, theta, grid, contrast, offset)


def _qr_r(a: jnp.ndarray) -> jnp.ndarray:
    """R factor of a QR decomposition with at least as many rows as columns (zero rows padded)."""
    short = a.shape[-1] - a.shape[-2]
    if short > 0:
        a = jnp.concatenate([a, jnp.zeros(a.shape[:-2] + (short, a.shape[-1]), a.dtype)], axis=-2)
    return jnp.linalg.qr(a, mode="r")


def _compressed_impl(x, theta_fixed, free_physics, fixed_scaling, grid, y, sigma, i, j, k, *, signal, scaling,
                     n_phi, blocked):
    """R factor of ``[J | r]`` using the structure ``model = offset[k] + contrast[k]·signal(θ)``.

    Forward-mode derivatives are taken of the signal with respect to the free physics
    only. Each point sees one row's contrast and offset, so with ``blocked`` (points
    ordered row by row in equal blocks) every row block ``[J_phys, ∂/∂contrast_row,
    ∂/∂offset_row, r]`` is QR-reduced on its own (Householder, LAPACK) and the scaling
    columns are expanded afterwards: the cost does not grow with the number of rows.
    The stacked small R factors get a final QR.
    """
    m = free_physics.shape[0]
    xp, xs = x[:m], x[m:]

    def physics_signal(xp_):
        return signal(theta_fixed.at[free_physics].set(xp_), grid, i, j, k)

    def row_scaling(xs_):
        return expand_scaling(scaling, xs_, n_phi, fixed_scaling)

    s = physics_signal(xp)
    ds = jax.jacfwd(physics_signal)(xp)            # (n, m)
    contrast, offset = row_scaling(xs)
    ec, eo = jax.jacfwd(row_scaling)(xs)           # (n_rows, n_scale): d(contrast, offset)/d(scaling params)
    w = 1.0 / sigma
    r = (y - (offset[k] + contrast[k] * s)) * w
    jp = -(contrast[k] * w)[:, None] * ds          # physics columns of J
    d_contrast, d_offset = -s * w, -w              # ∂r/∂contrast_row, ∂r/∂offset_row at each point
    p = m + xs.shape[0]
    if blocked:
        local = jnp.concatenate([jp, d_contrast[:, None], d_offset[:, None], r[:, None]], axis=1)
        rb = jax.lax.map(_qr_r, local.reshape(n_phi, -1, m + 3))        # (n_rows, m + 3, m + 3)
        stacked = jnp.concatenate([rb[..., :m], rb[..., m:m + 1] * ec[:, None, :] + rb[..., m + 1:m + 2]
                                   * eo[:, None, :], rb[..., m + 2:]], axis=-1).reshape(-1, p + 1)
    else:
        js = d_contrast[:, None] * ec[k] + d_offset[:, None] * eo[k]
        stacked = jnp.concatenate([jp, js, r[:, None]], axis=1)
    rf = _qr_r(stacked)[:p + 1]
    return rf[:, p], rf[:, :p]


_predict_at = jax.jit(_predict_at_impl, static_argnames=_STATIC)
_residuals = jax.jit(_residuals_impl, static_argnames=_STATIC)
_jacobian = jax.jit(jax.jacfwd(_residuals_impl), static_argnames=_STATIC)
_predict_full = jax.jit(_predict_full_impl, static_argnames=("model", "scaling", "n_phi"))
_compressed = jax.jit(_compressed_impl, static_argnames=_STATIC + ("blocked",))
