"""wb-syslog: Wishbone's syslog input (``syslog_in``) and output (``syslog_out``), group ``wishbone.module``."""

from wb_syslog.rfc import SyslogError, format_3164, format_5424, parse
from wb_syslog.syslog_in import SyslogIn
from wb_syslog.syslog_out import SyslogOut

__version__ = "1.0.0"

__all__ = ["SyslogError", "SyslogIn", "SyslogOut", "__version__", "format_3164", "format_5424", "parse"]
