"""The modules the core ships: ``testevent``, ``null``, ``passthrough`` and the ``log`` metrics module."""
