"""Wishbone batching: ``tippingbucket`` (many events into one) and ``split`` (one into many)."""

from wb_batch.split import Split
from wb_batch.tippingbucket import TippingBucket

__version__ = "0.1.0"

__all__ = ["Split", "TippingBucket", "__version__"]
