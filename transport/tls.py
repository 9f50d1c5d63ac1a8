"""TLS for gRPC: SSL contexts that speak HTTP/2, and what a handshake tells.

Specs: RFC 9113 §3.2 (https://www.rfc-editor.org/rfc/rfc9113#section-3.2):
HTTP/2 over TLS is chosen with the ALPN protocol id "h2" (RFC 7301); RFC 9113
§9.2 for the TLS rules HTTP/2 sets (TLS 1.2 or later, no compression,
no renegotiation); doc/PROTOCOL-HTTP2.md ("Connection Management"), which
has gRPC use exactly that.

    server_context("server.pem", "server.key")                      one-way TLS
    server_context("server.pem", "server.key", client_ca="ca.pem")  mutual TLS
    client_context(ca="ca.pem")                                     trust a private CA
    client_context(ca="ca.pem", certificate="client.pem", private_key="client.key")

A peer that does not agree on "h2" is refused: ``check_alpn`` raises a
ProtocolError (UNAVAILABLE) naming what was negotiated instead.
"""

from __future__ import annotations

import ssl
from typing import Any

from .errors import ProtocolError
from .status import StatusCode

__all__ = [
    "ALPN_PROTOCOL",
    "server_context",
    "client_context",
    "check_alpn",
    "peer_identity",
]

ALPN_PROTOCOL = "h2"                              # RFC 9113 §3.2
MINIMUM_TLS_VERSION = ssl.TLSVersion.TLSv1_2      # RFC 9113 §9.2: TLS 1.2 or later


def server_context(certificate: str, private_key: str, *, client_ca: str | None = None,
                   require_client_certificate: bool | None = None) -> ssl.SSLContext:
    """A server context offering "h2"; with ``client_ca``, clients must show a
    certificate that CA signed (mutual TLS) unless ``require_client_certificate=False``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _common(context)
    context.load_cert_chain(certificate, private_key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        required = True if require_client_certificate is None else require_client_certificate
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return context


def client_context(*, ca: str | None = None, ca_data: str | None = None,
                   certificate: str | None = None, private_key: str | None = None,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """A client context offering "h2" that verifies the server.

    Without ``ca``/``ca_data`` the system's trusted CAs are used. With
    ``certificate`` and ``private_key`` the client shows its own (mutual TLS).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _common(context)
    if ca is None and ca_data is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.load_verify_locations(cafile=ca, cadata=ca_data)
    if certificate is not None:
        context.load_cert_chain(certificate, private_key)
    context.check_hostname = check_hostname
    return context


def _common(context: ssl.SSLContext) -> None:
    context.minimum_version = MINIMUM_TLS_VERSION
    context.options |= ssl.OP_NO_COMPRESSION      # RFC 9113 §9.2.1
    context.set_alpn_protocols([ALPN_PROTOCOL])


def check_alpn(ssl_object: Any) -> None:
    """Refuse a TLS connection on which ALPN did not choose "h2"."""
    if ssl_object is None:
        return
    chosen = ssl_object.selected_alpn_protocol()
    if chosen != ALPN_PROTOCOL:
        raise ProtocolError(
            f"the peer did not negotiate HTTP/2 over TLS: ALPN chose {chosen!r}, "
            f"gRPC needs {ALPN_PROTOCOL!r} (RFC 9113 §3.2)",
            status=StatusCode.UNAVAILABLE,
        )


def peer_identity(ssl_object: Any) -> dict[str, Any]:
    """What the peer's verified certificate says about it, for authorisation.

    {"transport_security_type": "ssl", "x509_common_name": [...],
     "x509_subject_alternative_name": [...], "x509_pem_cert": "..."}; the keys
    follow the names gRPC's auth contexts use. Empty without TLS; without a
    client certificate only the security type is there.
    """
    if ssl_object is None:
        return {}
    identity: dict[str, Any] = {"transport_security_type": "ssl",
                                "alpn": ssl_object.selected_alpn_protocol()}
    certificate = ssl_object.getpeercert()
    if not certificate:
        return identity
    identity["x509_common_name"] = [value for rdn in certificate.get("subject", ())
                                    for key, value in rdn if key == "commonName"]
    identity["x509_subject_alternative_name"] = [
        value for _, value in certificate.get("subjectAltName", ())]
    der = ssl_object.getpeercert(binary_form=True)
    if der:
        identity["x509_pem_cert"] = ssl.DER_cert_to_PEM_cert(der)
    return identity
