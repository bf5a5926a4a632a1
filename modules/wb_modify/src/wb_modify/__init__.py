"""wb-modify: the ``modify`` processor, ordered edits of event fields."""

from wb_modify.modify import Modify

__version__ = "0.1.0"

__all__ = ["Modify", "__version__"]
