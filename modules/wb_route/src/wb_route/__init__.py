"""wb-route: processors that route events: ``switch``, ``filter`` and ``roundrobin``."""

from wb_route.filter import Filter
from wb_route.roundrobin import RoundRobin
from wb_route.switch import Case, Switch

__version__ = "0.1.0"

__all__ = ["Case", "Filter", "RoundRobin", "Switch", "__version__"]
