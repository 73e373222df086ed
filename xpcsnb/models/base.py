"""The model interface: a time/angle grid and a pure function of a parameter vector.

A model is a pure JAX function ``signal(theta, grid, i=None, j=None, k=None)``:

* ``theta``: physics parameter vector, order given by the registry
  (:func:`xpcsnb.models.registry.physics_names`);
* ``grid``: the :class:`Grid` the data live on;
* without ``i, j, k`` it returns the full normalised signal, shape ``(n_phi, N, N)``
  (rows ↔ t1 index i, columns ↔ t2 index j);
* with index arrays ``i, j, k`` (t1 index, t2 index, angle index) of one length n it
  returns the signal at those points only, shape ``(n,)`` — no N×N intermediate; the
  1-D time integrals are still computed on the full grid.

The measured correlation is ``C2 = offset_k + contrast_k · signal`` (see
:mod:`xpcsnb.models.scaling`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401

__all__ = ["Grid", "Model", "make_grid"]


class Grid(NamedTuple):
    """Where a two-time model is evaluated (a JAX pytree).

    Attributes
    ----------
    t : array, shape (N,)
        Absolute frame times [s], uniform.
    phi : array, shape (n_phi,)
        Azimuthal angles [deg].
    q : array, shape ()
        Scattering vector [1/Å].
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


def make_grid(t: np.ndarray, phi: np.ndarray, q: float, L: float | None = None) -> Grid:
    """Build a float64 :class:`Grid` (``L`` defaults to NaN when not needed)."""
    return Grid(
        t=jnp.asarray(t, dtype=jnp.float64),
        phi=jnp.atleast_1d(jnp.asarray(phi, dtype=jnp.float64)),
        q=jnp.asarray(q, dtype=jnp.float64),
        L=jnp.asarray(np.nan if L is None else L, dtype=jnp.float64),
    )


SignalFn = Callable[..., jnp.ndarray]


@dataclass(frozen=True)
class Model:
    """A named two-time model.

    Attributes
    ----------
    name : str
        Registry model name (``"static"``, ``"laminar_flow"``, ``"heterodyne"``).
    signal : callable
        ``signal(theta, grid, i=None, j=None, k=None)`` as described in the module doc.
    needs_L : bool
        Whether the gap ``L`` enters the model.
    symmetric : bool
        Whether the signal is symmetric in (t1, t2) for every parameter value.
    time_convention : str
        The time grid the reference package uses, for reports.
    """

    name: str
    signal: SignalFn
    needs_L: bool
    symmetric: bool
    time_convention: str
