"""TLS certificates for tests, made at test time: a CA, a server, a client, and a rogue client.

The pytest plugin's ``tls_certs`` fixture (session scoped) calls :func:`make_certificates`
once per run; a test uses the PEM files it names::

    def test_tls(tls_certs):
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(tls_certs["server_cert"], tls_certs["server_key"])
        client = ssl.create_default_context(cafile=tls_certs["ca"])   # trusts the server's

Made with the ``openssl`` command (EC P-256 keys, valid two days), so the tests need no
Python package beyond the standard library; without the command, RuntimeError says so.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

__all__ = ["make_certificates"]

_CA_EXT = "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n"
_LEAF_EXT = "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:FALSE\n"
_SERVER_EXT = _LEAF_EXT + "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
_ORG = "/O=Wishbone tests"


def _openssl(*args: str) -> None:
    if shutil.which("openssl") is None:
        raise RuntimeError("the TLS tests make their certificates with the openssl command: install openssl")
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def _issue(folder: pathlib.Path, name: str, subject: str, ca: str | None, ext: str) -> None:
    """``name.pem`` / ``name.key``: an EC P-256 key and a certificate for it, self-signed when *ca* is None
    (else signed by ``ca.pem`` / ``ca.key`` of *ca*, a name in *folder*)."""
    key, pem, ext_file = folder / f"{name}.key", folder / f"{name}.pem", folder / f"{name}.ext"
    ext_file.write_text(ext)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    if ca is None:
        _openssl(
            *("req", "-new", "-x509", "-key", str(key), "-out", str(pem), "-days", "2", "-subj", subject),
            *("-extensions", "v3", "-config", str(ext_file)),
        )
        return
    csr = folder / f"{name}.csr"
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", subject, "-config", str(ext_file))
    _openssl(
        *("x509", "-req", "-in", str(csr), "-CA", str(folder / f"{ca}.pem"), "-CAkey", str(folder / f"{ca}.key")),
        *("-CAcreateserial", "-out", str(pem), "-days", "2", "-extfile", str(ext_file), "-extensions", "v3"),
    )


def make_certificates(folder: pathlib.Path | str) -> dict[str, str]:
    """PEM files made in *folder*, by the paths of this dict's keys:

    * ``ca``: the CA that signed the server's and the client's certificates;
    * ``server_cert`` / ``server_key``: for ``localhost`` and ``127.0.0.1`` (CN=localhost);
    * ``client_cert`` / ``client_key``: a client certificate (CN=client, O=Wishbone tests);
    * ``other_ca``, ``rogue_cert`` / ``rogue_key``: a client certificate (CN=rogue) from a CA
      that a server trusting only ``ca`` refuses.
    """
    folder = pathlib.Path(folder)
    _issue(folder, "ca", f"/CN=Wishbone test CA{_ORG}", None, _CA_EXT)
    _issue(folder, "server", f"/CN=localhost{_ORG}", "ca", _SERVER_EXT)
    _issue(folder, "client", f"/CN=client{_ORG}", "ca", _LEAF_EXT)
    _issue(folder, "other_ca", f"/CN=Other CA{_ORG}", None, _CA_EXT)
    _issue(folder, "rogue", f"/CN=rogue{_ORG}", "other_ca", _LEAF_EXT)
    out = {"ca": str(folder / "ca.pem"), "other_ca": str(folder / "other_ca.pem")}
    for name in ("server", "client", "rogue"):
        out[f"{name}_cert"], out[f"{name}_key"] = str(folder / f"{name}.pem"), str(folder / f"{name}.key")
    return out
