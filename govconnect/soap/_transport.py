"""How SOAP messages travel: credentials, timeouts, and text encodings legacy services really send.

zeep's own transport logs whole envelopes at DEBUG — UsernameToken, personal data and all — and
hands lxml the raw bytes, which only works when the XML declaration names the encoding. Legacy
services from 2005–2015 often answer GBK or GB18030 with the charset only in ``Content-Type``, or
declare ``GBK`` and send characters only GB18030 has. :class:`LegacyTransport` fixes both: it never
logs a message body and hands zeep UTF-8.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
from pydantic import SecretStr
from zeep.transports import Transport

from .._exceptions import ConfigurationError

__all__ = ["LegacyTransport", "SoapSecurity", "to_utf8"]

log = logging.getLogger(__name__)

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?\?>", re.S)
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.S)
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9._:-]+)", re.I)

#: Encodings GB18030 is a superset of: decoding them as GB18030 loses nothing and reads the
#: characters a "GBK" service sends anyway (rare surnames, minority-language names).
_GB_FAMILY = frozenset({"gbk", "gb2312", "gb_2312", "gb_2312-80", "cp936", "x-gbk", "euc-cn"})


_UTF8 = frozenset({"utf-8", "utf8"})


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    lowered = name.strip().lower()
    return "gb18030" if lowered in _GB_FAMILY else lowered


def to_utf8(content: bytes, content_type: str | None = None, encoding: str | None = None) -> bytes:
    """An XML document as UTF-8 bytes with a matching declaration.

    ``encoding`` (when the connector knows better than the service) wins; otherwise the
    ``Content-Type`` charset, then the XML declaration, then UTF-8 are tried in that order and the
    first that decodes the whole document is taken — a service whose header and declaration
    disagree is common, and a wrong guess fails to decode rather than producing mojibake.
    """
    if not content or (content_type and "multipart/" in content_type.lower()):
        return content
    declared = _DECLARED.match(content)
    header = _CHARSET.search(content_type or "")
    candidates: Sequence[str | None] = (
        [_codec(encoding)]
        if encoding
        else [
            _codec(header.group(1) if header else None),
            _codec(declared.group(1).decode("ascii") if declared else None),
            "utf-8",
        ]
    )
    for codec in dict.fromkeys(c for c in candidates if c):
        try:
            text = content.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        if codec in _UTF8 and (not declared or _codec(declared.group(1).decode()) in _UTF8):
            return content
        body = _DECLARATION.sub(b"", text.encode("utf-8"), count=1)
        return b'<?xml version="1.0" encoding="UTF-8"?>' + body
    tried = ", ".join(c for c in candidates if c)
    raise ConfigurationError(
        f"the legacy service's answer is not text in any of: {tried}; set encoding= on the client"
    )


@dataclass(frozen=True)
class SoapSecurity:
    """Credentials for a legacy WebService; the password never appears in ``repr`` or logs.

    ``scheme``: ``username_token`` (WS-Security UsernameToken, ``digest`` sends PasswordDigest —
    SHA-1 over nonce, created and password — instead of the password), ``basic`` (HTTP Basic), or
    ``both``. ``cert`` is a client certificate file (or ``(cert, key)``) for mutual TLS; ``verify``
    a CA bundle path, or ``False`` only for a test system.
    """

    username: str | None = None
    password: str | SecretStr | None = field(default=None, repr=False)
    scheme: Literal["username_token", "basic", "both"] = "username_token"
    digest: bool = True
    cert: str | tuple[str, str] | None = None
    verify: bool | str = True

    @property
    def secret(self) -> str:
        """The password as text, for the two places that send it (a ``SecretStr`` is unwrapped)."""
        if isinstance(self.password, SecretStr):
            return self.password.get_secret_value()
        return self.password or ""

    def session(self) -> requests.Session:
        session = requests.Session()
        if self.username is not None and self.scheme in ("basic", "both"):
            # UTF-8 (RFC 7617), not requests' latin-1: passwords here are often Chinese
            session.auth = requests.auth.HTTPBasicAuth(
                self.username.encode("utf-8"), self.secret.encode("utf-8")
            )
        if self.cert is not None:
            session.cert = self.cert
        session.verify = self.verify
        return session

    def wsse(self) -> Any:
        """The zeep WS-Security plugin, or ``None`` when no UsernameToken is sent."""
        if self.username is None or self.scheme == "basic":
            return None
        from zeep.wsse.username import UsernameToken

        return UsernameToken(self.username, self.secret, use_digest=self.digest)


class LegacyTransport(Transport):
    """zeep's transport minus body logging, plus decoding of what legacy services send."""

    def __init__(
        self, *, session: requests.Session, timeout: float, encoding: str | None = None
    ) -> None:
        super().__init__(session=session, timeout=timeout, operation_timeout=timeout)
        self.encoding = encoding

    def post(self, address: str, message: Any, headers: dict[str, str]) -> requests.Response:
        # Deliberately no body logging (zeep logs envelopes at DEBUG): tokens and personal data.
        response = self.session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout
        )
        log.debug("SOAP POST %s answered %d", address, response.status_code)
        if _looks_like_xml(response.content):
            response._content = to_utf8(
                response.content, response.headers.get("Content-Type"), self.encoding
            )
        return response

    def _load_remote_data(self, url: str) -> bytes:
        response = self.session.get(url, timeout=self.load_timeout)
        with closing(response):
            response.raise_for_status()
            return to_utf8(response.content, response.headers.get("Content-Type"), self.encoding)


def _looks_like_xml(content: bytes) -> bool:
    return content.lstrip()[:1] == b"<"
