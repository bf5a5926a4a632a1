"""tcp_out's TLS context from the standard library (through gevent.ssl, so handshakes and reads are cooperative).

tcp_in's server side is ``wishbone.streamserver.server_context``, shared with other stream inputs.
"""

from __future__ import annotations

import ssl

import gevent.ssl

__all__ = ["client_context"]


def client_context(ca: str = "", verify: bool = True, cert: str = "", key: str = "") -> ssl.SSLContext:
    """A client context: the server's certificate checked against *ca* (or the system's CAs) unless not *verify*.

    *cert* (and *key*) is the client certificate to present, if any.
    """
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        if ca:
            context.load_verify_locations(ca)
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert:
        context.load_cert_chain(cert, key or None)
    return context
