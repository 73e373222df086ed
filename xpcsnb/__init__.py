"""xpcsnb: X-ray photon correlation spectroscopy from detector frames to physics, in a notebook."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xpcsnb")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0+unknown"

from . import _jax  # noqa: F401,E402  (float64 in JAX)
from . import accessor as _accessor  # noqa: F401,E402  (registers ds.xpcs)
from .fit.cmc import cmc_summary as cmc_summary  # noqa: E402
from .fit.cmc import cmc_warnings as cmc_warnings  # noqa: E402
from .fit.cmc import fit_cmc as fit_cmc  # noqa: E402
from .fit.cmc import load_cmc as load_cmc  # noqa: E402
from .fit.cmc import save_cmc as save_cmc  # noqa: E402
from .fit.nlsq import fit_nlsq as fit_nlsq  # noqa: E402
from .fit.result import NLSQResult as NLSQResult  # noqa: E402
from .fit.result import as_result as as_result  # noqa: E402
from . import correlate as correlate  # noqa: E402
from . import datasets as datasets  # noqa: E402
from . import widgets as widgets  # noqa: E402
from . import xsvs as xsvs  # noqa: E402
from .io.aps8idi import open_aps as open_aps  # noqa: E402
from .io.frames import open_frames as open_frames  # noqa: E402
from .io.rigaku import open_rigaku as open_rigaku  # noqa: E402
from .io.aps8idi import open_twotime as open_twotime  # noqa: E402
from .io.twotime import TwoTimeError as TwoTimeError  # noqa: E402
from .io.twotime import twotime as twotime  # noqa: E402
from .models import registry as registry  # noqa: E402
from .simulate import simulate as simulate  # noqa: E402

__all__ = [
    "NLSQResult",
    "TwoTimeError",
    "__version__",
    "as_result",
    "cmc_summary",
    "cmc_warnings",
    "correlate",
    "datasets",
    "fit_cmc",
    "fit_nlsq",
    "load_cmc",
    "open_aps",
    "open_frames",
    "open_rigaku",
    "open_twotime",
    "registry",
    "save_cmc",
    "simulate",
    "twotime",
    "widgets",
    "xsvs",
]
