"""wb-tcp: Wishbone's TCP input (``tcp_in``) and output (``tcp_out``), group ``wishbone.module``."""

from wb_tcp.tcp_in import TCPIn
from wb_tcp.tcp_out import TCPOut

__version__ = "1.0.0"

__all__ = ["TCPIn", "TCPOut", "__version__"]
