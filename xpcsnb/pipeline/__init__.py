"""From raw files to results: analysis configuration, one-file jobs, and the (Dask-optional) batch."""

from .batch import batch as batch
from .batch import format_summary as format_summary
from .config import ConfigError as ConfigError
from .config import default_config as default_config
from .config import load_config as load_config
from .fits import cmc_file as cmc_file
from .fits import fit_file as fit_file
from .fits import load_cmc_by_q as load_cmc_by_q
from .run import correlate_file as correlate_file

__all__ = ["ConfigError", "batch", "cmc_file", "correlate_file", "default_config", "fit_file", "format_summary",
           "load_cmc_by_q", "load_config"]
