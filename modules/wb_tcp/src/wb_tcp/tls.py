"""TLS contexts from the standard library (through gevent.ssl, so handshakes and reads are cooperative)."""

from __future__ import annotations

import ssl

import gevent.ssl

__all__ = ["CLIENT_AUTH", "client_context", "server_context"]

#: tcp_in's ``tls_client_auth`` values and what the server asks of a client's certificate.
CLIENT_AUTH = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def server_context(cert: str, key: str = "", ca: str = "", client_auth: str = "none") -> ssl.SSLContext:
    """A server context with *cert* (and *key*; "" if the key is in *cert*), TLS 1.2 or later.

    With *client_auth* "optional" or "required", client certificates are checked against *ca*.
    Raises OSError / ssl.SSLError when a file is missing or does not hold what it should.
    """
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key or None)
    context.verify_mode = CLIENT_AUTH[client_auth]
    if ca:
        context.load_verify_locations(ca)
    return context


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
