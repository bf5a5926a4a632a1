"""Wishbone's reliability and security suite (``nox -s reliability``): faults, bad input, load."""
