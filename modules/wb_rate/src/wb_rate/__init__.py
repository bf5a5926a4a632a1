"""Wishbone rate modules: ``throttle``, ``dedupe``, ``count`` (rates as events), ``fresh`` (a dead man's switch)."""

from wb_rate.count import Count
from wb_rate.dedupe import Dedupe
from wb_rate.fresh import Fresh
from wb_rate.throttle import Throttle

__version__ = "0.1.0"

__all__ = ["Count", "Dedupe", "Fresh", "Throttle", "__version__"]
