"""The model interface: a time/angle grid and a pure function of a parameter vector.

A model is a pure JAX function ``signal(theta, grid, i=None, j=None, k=None)``:

* ``theta``: physics parameter vector, in the order of :attr:`Model.parameters`;
* ``grid``: the :class:`Grid` the data live on;
* without ``i, j, k`` it returns the full normalised signal, shape ``(n_phi, N, N)``
  (rows ↔ t1 index i, columns ↔ t2 index j);
* with index arrays ``i, j, k`` (t1 index, t2 index, angle index) of one length n it
  returns the signal at those points only, shape ``(n,)`` — no N×N intermediate; the
  1-D time integrals are still computed on the full grid.

The measured correlation is ``C2 = offset_k + contrast_k · signal`` (see
``xpcsnb.models.scaling``).

Rows
----
The leading axis of the signal (index ``k``) is a *row*: one (q, φ) pair. For a
single-q Dataset the rows are its angles and ``grid.q`` is a scalar; for a multi-q fit
the rows are all (q, φ) pairs, q-major, and ``grid.q`` and ``grid.phi`` are per-row
arrays of the same length. Models read q only through :func:`per_row`, so the same
code serves both (the 1-D time integrals do not depend on q).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401
from ..core.errors import XpcsError
from .parameters import Parameter
from .scaling import parse_scaling_name

__all__ = ["MODEL_KINDS", "Grid", "Mirror", "Model", "ModelError", "RateLaw", "make_grid", "per_row"]


#: What a model describes: two-time C2 or one-time g2 (:attr:`Model.kind`).
MODEL_KINDS = ("twotime", "g2")


class Grid(NamedTuple):
    """Where a two-time model is evaluated (a JAX pytree).

    Attributes
    ----------
    t : array, shape (N,)
        Absolute frame times [s], uniform.
    phi : array, shape (n_rows,)
        Azimuthal angle of each row [deg].
    q : array, shape () or (n_rows,)
        Scattering vector [1/Å]: one value for all rows, or one per row (multi-q).
    L : array, shape ()
        Gap of the shear cell [Å] (laminar flow only; ignored otherwise).
    """

    t: jnp.ndarray
    phi: jnp.ndarray
    q: jnp.ndarray
    L: jnp.ndarray

    @property
    def dt(self) -> jnp.ndarray:
        """Time step [s] (``t[1] − t[0]``)."""
        return self.t[1] - self.t[0]


def make_grid(t: np.ndarray, phi: np.ndarray, q: float | np.ndarray, L: float | None = None) -> Grid:
    """Build a float64 :class:`Grid` (``L`` defaults to NaN when not needed).

    ``q`` is a scalar (every row at the same q) or one value per row of ``phi``.
    """
    phi_a = np.atleast_1d(np.asarray(phi, dtype=float))
    q_a = np.asarray(q, dtype=float)
    if q_a.ndim > 1 or (q_a.ndim == 1 and q_a.shape != phi_a.shape):
        raise ValueError(f"q must be a scalar or one value per row of phi {phi_a.shape}, got shape {q_a.shape}")
    return Grid(
        t=jnp.asarray(t, dtype=jnp.float64),
        phi=jnp.asarray(phi_a, dtype=jnp.float64),
        q=jnp.asarray(q_a, dtype=jnp.float64),
        L=jnp.asarray(np.nan if L is None else L, dtype=jnp.float64),
    )


def per_row(value: jnp.ndarray, k: jnp.ndarray | None = None) -> jnp.ndarray:
    """A per-row quantity shaped to broadcast against the signal.

    ``value`` is a scalar (returned as is) or shape (n_rows,): without ``k`` it is
    returned as (n_rows, 1, 1) to broadcast against (n_rows, N, N) matrices, with a
    row index array ``k`` it is gathered at the points, shape (n,).
    """
    if value.ndim == 0:
        return value
    if k is None:
        return value[:, None, None]
    return value[k]


SignalFn = Callable[..., jnp.ndarray]


class RateLaw(NamedTuple):
    """A rate of a model of the form ``r(t) = prefactor · basis(t, exponent) + offset``.

    D(t), γ̇(t) and v(t) are rate laws; the model integrates them over time. Engines that
    reparametrise (CMC) use this to follow the exponent–prefactor–offset valley.

    Attributes
    ----------
    prefactor, exponent, offset : str
        Names of the three parameters (in ``Model.parameters``).
    basis : callable
        ``basis(t, exponent)`` on the grid times [s], the model's own power law
        (a module-level function, so that it pickles).
    """

    prefactor: str
    exponent: str
    offset: str
    basis: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]


class Mirror(NamedTuple):
    """A start symmetry: the model is even (or nearly so) in one parameter.

    An engine that declares nothing about models reads these to add starts: after the
    first solution it also starts from that solution with ``parameter → −parameter``
    (e.g. the homodyne flow angle φ0, which enters through an even function of φ0 − φ,
    so that φ0 and −φ0 fit almost equally well on nearly symmetric angle sets).

    Attributes
    ----------
    parameter : str
        Name of the parameter (in ``Model.parameters``).
    """

    parameter: str


class ModelError(XpcsError):
    """Raised for an invalid model definition, an unknown model name or a duplicate registration."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Model:
    """A named two-time model: its signal function and its physics parameters.

    Models compare and hash by identity (so a Model can be a static argument of a
    compiled function). Construction checks that the definition is consistent; a
    Model can be used as an object or registered by name
    (:func:`xpcsnb.models.registry.register`).

    Attributes
    ----------
    name : str
        Model name (``"static"``, ``"laminar_flow"``, ``"heterodyne"``, ...).
    signal : callable
        ``signal(theta, grid, i=None, j=None, k=None)`` as described in the module doc;
        ``theta`` holds the physics parameters in the order of ``parameters``.
    parameters : tuple of Parameter
        The physics parameters in vector order, with units, default bounds, start and
        prior. Their names must be unique and must not be scaling names (``contrast``,
        ``offset``, ``contrast_<k>``, ...).
    needs_L : bool
        Whether the gap ``L`` enters the model.
    symmetric : bool
        Whether the signal is symmetric in (t1, t2) for every parameter value.
    time_convention : str
        The time grid the model assumes, for reports.
    default_fixed : mapping of str to float
        Physics parameters held fixed unless the user frees them (exact degeneracies,
        e.g. heterodyne ``f2``), with their values.
    diagnose : callable, optional
        ``diagnose(values, stderr, free) -> list[str]``: model-specific warnings about a
        fit (near-degenerate parameter pairs at the solution); ``values`` and ``stderr``
        map parameter names to values and standard errors (NaN when unknown), ``free``
        is the set of free physics names.
    rate_laws : tuple of RateLaw
        The rates ``prefactor · basis(t, exponent) + offset`` the model integrates.
    start_symmetries : tuple of Mirror
        Parameters in which the model is (nearly) even; engines add mirrored starts.
    kind : {"twotime", "g2"}
        The data the model describes: ``"twotime"`` (C2(t1, t2) per angle, scaled by the
        per-angle ``contrast``/``offset`` of ``xpcsnb.models.scaling``) or ``"g2"`` (one-time
        g2(τ) per ROI, ``xpcsnb.models.onetime``). Engines and the accessor dispatch on it, never
        on a model name. The scaling names (``contrast``, ``offset``, ...) are refused as
        parameter names only for two-time models: a g2 model has no per-angle scaling and
        its Siegert factor is its own parameter ``contrast``.

    Raises
    ------
    ModelError
        For an inconsistent definition (checked when the Model is created).
    """

    name: str
    signal: SignalFn
    parameters: tuple[Parameter, ...]
    needs_L: bool = False
    symmetric: bool = True
    time_convention: str = "the Dataset's own absolute times t1 [s]"
    default_fixed: Mapping[str, float] = field(default_factory=dict)
    diagnose: Callable[[Mapping[str, float], Mapping[str, float], frozenset[str]], list[str]] | None = None
    rate_laws: tuple[RateLaw, ...] = ()
    start_symmetries: tuple[Mirror, ...] = ()
    kind: str = "twotime"

    def __post_init__(self) -> None:
        """Check the definition: every name it uses is one of its parameters.

        Checked: ``name`` is a non-empty string without whitespace; ``signal`` and
        ``diagnose`` are callable; ``parameters`` is a non-empty sequence of
        :class:`Parameter` with unique names none of which is a scaling name;
        ``default_fixed``, ``rate_laws`` and ``start_symmetries`` name only these
        parameters, and the default-fixed values are finite.
        """
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            raise ModelError(f"a model name must be a non-empty string without spaces, got {self.name!r}")
        where = f"model {self.name!r}"
        if self.kind not in MODEL_KINDS:
            raise ModelError(f"{where}: kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if not callable(self.signal):
            raise ModelError(f"{where}: signal must be callable signal(theta, grid, i=None, j=None, k=None), "
                             f"got {type(self.signal).__name__}")
        if self.diagnose is not None and not callable(self.diagnose):
            raise ModelError(f"{where}: diagnose must be callable or None, got {type(self.diagnose).__name__}")
        if isinstance(self.parameters, (str, bytes)) or not isinstance(self.parameters, Sequence):
            raise ModelError(f"{where}: parameters must be a sequence of xpcsnb.models.Parameter, "
                             f"got {type(self.parameters).__name__}")
        params = tuple(self.parameters)
        if not params:
            raise ModelError(f"{where}: parameters is empty; a model needs at least one physics parameter")
        bad = [type(p).__name__ for p in params if not isinstance(p, Parameter)]
        if bad:
            raise ModelError(f"{where}: parameters must be xpcsnb.models.Parameter objects, got {bad}")
        names = [p.name for p in params]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ModelError(f"{where}: parameter names must be unique; repeated: {dup}")
        clash = [n for n in names if parse_scaling_name(n) is not None] if self.kind == "twotime" else []
        if clash:
            raise ModelError(f"{where}: parameter name(s) {clash} clash with the scaling parameters "
                             "(contrast, offset, contrast_<k>, offset_<k>, ...); rename them")
        object.__setattr__(self, "parameters", params)
        known = set(names)
        fixed = dict(self.default_fixed)
        unknown = sorted(set(fixed) - known)
        if unknown:
            raise ModelError(f"{where}: default_fixed names {unknown}, which are not its parameters {names}")
        for n, v in fixed.items():
            if not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
                raise ModelError(f"{where}: default_fixed value of {n!r} must be a finite number, got {v!r}")
        object.__setattr__(self, "rate_laws", tuple(self.rate_laws))
        object.__setattr__(self, "start_symmetries", tuple(self.start_symmetries))
        for law in self.rate_laws:
            if not isinstance(law, RateLaw):
                raise ModelError(f"{where}: rate_laws must hold RateLaw objects, got {type(law).__name__}")
            missing = [n for n in (law.prefactor, law.exponent, law.offset) if n not in known]
            if missing:
                raise ModelError(f"{where}: rate law {law.prefactor}/{law.exponent}/{law.offset} names {missing}, "
                                 f"which are not its parameters {names}")
        for sym in self.start_symmetries:
            if not isinstance(sym, Mirror):
                raise ModelError(f"{where}: start_symmetries must hold Mirror objects, got {type(sym).__name__}")
            if sym.parameter not in known:
                raise ModelError(f"{where}: start symmetry Mirror({sym.parameter!r}) names no parameter of the "
                                 f"model; it has {names}")

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the physics parameters, in vector order."""
        return tuple(p.name for p in self.parameters)

    def __repr__(self) -> str:
        return f"Model({self.name!r}, parameters={list(self.parameter_names)})"
