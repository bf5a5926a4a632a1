"""wb-codec: ``decode`` and ``encode`` a field with any codec of wishbone.codec; ``jsonvalidate``."""

from wb_codec.codecs import Decode, Encode
from wb_codec.jsonvalidate import JSONValidate

__version__ = "0.1.0"

__all__ = ["Decode", "Encode", "JSONValidate", "__version__"]
