"""wb-udp: Wishbone's UDP input (``udp_in``) and output (``udp_out``), group ``wishbone.module``."""

from wb_udp.udp_in import UDPIn
from wb_udp.udp_out import UDPOut

__version__ = "1.0.0"

__all__ = ["UDPIn", "UDPOut", "__version__"]
