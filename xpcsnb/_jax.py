"""Enable float64 in JAX for every xpcsnb module that computes physics."""

import jax

jax.config.update("jax_enable_x64", True)
