"""A legacy SOAP WebService on loopback: serves a WSDL, answers from sample data, misbehaves on cue.

Built on the standard library's threading HTTP server and lxml — no SOAP server framework — so it
is small enough to read and behaves like the services it stands for: SOAP 1.1, document/literal
wrapped, faults with HTTP 500, WS-Security UsernameToken checked (PasswordDigest), answers in the
encoding a legacy service uses (GB18030 with or without an XML declaration)::

    answers = {"QueryPerson": lambda req: {"person": [p for p in PEOPLE if p["sfzh"] == req["sfzh"]]}}
    with SoapLegacyFake("hjxt.wsdl", answers, username="jk", password="…") as fake:
        client = SoapClient(fake.wsdl_url, security=SoapSecurity("jk", "…"))
        fake.inject("http_500", times=2)      # the next two calls fail; the client retries
        fake.inject("fault", code="soap:Client", string="身份证号不存在")

An answer is a mapping, or a callable taking the request body (element names → text, nested
dicts, repeated elements as lists) and returning one; raising :class:`FakeFault` answers a Fault.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape

from lxml import etree

from ._loopback import ServedInTests

__all__ = ["FakeFault", "SoapCall", "SoapLegacyFake"]

Answer = Mapping[str, Any] | Callable[[dict[str, Any]], Mapping[str, Any]]

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
MAX_BODY = 4 * 1024 * 1024
TOKEN_AGE = timedelta(minutes=5)


class FakeFault(Exception):
    """Raise from an answer to send a SOAP Fault with this code and string."""

    def __init__(self, code: str, string: str, detail: str = "") -> None:
        super().__init__(f"{code}: {string}")
        self.code, self.string, self.detail = code, string, detail


@dataclass(frozen=True)
class SoapCall:
    """One request the fake received: operation, body as a dict, HTTP headers (lower-case)."""

    operation: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Injection:
    kind: Literal["fault", "http_500", "slow"]
    times: int
    operation: str | None
    code: str = "soap:Server"
    string: str = "injected fault"
    seconds: float = 1.0


@dataclass
class _Wsdl:
    """What the fake needs of the WSDL: the text, and per input element its operation's output."""

    text: bytes
    operations: dict[str, tuple[str, str]]  # input element local name -> (operation, output QName)
    qualified: dict[str, bool] = field(default_factory=dict)  # namespace -> elementFormDefault


def _read_wsdl(source: str | Path) -> _Wsdl:
    text = Path(source).read_bytes()
    root = etree.fromstring(text)
    ns = {"w": WSDL, "x": XSD}
    qualified = {
        s.get("targetNamespace", ""): s.get("elementFormDefault") == "qualified"
        for s in root.iterfind(".//x:schema", ns)
    }

    def element_of(message: str) -> str:
        name = message.split(":")[-1]
        part = root.find(f"w:message[@name='{name}']/w:part", ns)
        if part is None or part.get("element") is None:
            raise ValueError(f"message {name} has no element part (only document/literal is faked)")
        prefix, _, local = part.get("element").rpartition(":")
        return f"{{{part.nsmap.get(prefix or None, root.get('targetNamespace'))}}}{local}"

    operations: dict[str, tuple[str, str]] = {}
    for op in root.iterfind("w:portType/w:operation", ns):
        request = element_of(op.find("w:input", ns).get("message"))
        response = element_of(op.find("w:output", ns).get("message"))
        operations[etree.QName(request).localname] = (op.get("name"), response)
    return _Wsdl(text, operations, qualified)


class SoapLegacyFake(ServedInTests):
    """The fake as a context manager; ``url`` is the endpoint, ``wsdl_url`` serves the WSDL with
    its ``soap:address`` pointing here. ``calls`` records every request for inspection.

    ``username``/``password`` make it demand a WS-Security UsernameToken with PasswordDigest;
    ``basic`` (user, password) demands HTTP Basic. ``encoding`` is the answers' encoding and
    ``declare_encoding=False`` leaves it out of the XML declaration (only ``Content-Type`` says).
    """

    def __init__(
        self,
        wsdl: str | Path,
        answers: Mapping[str, Answer],
        *,
        username: str | None = None,
        password: str | None = None,
        basic: tuple[str, str] | None = None,
        encoding: str = "utf-8",
        declare_encoding: bool = True,
        path: str = "/services/legacy",
    ) -> None:
        self._wsdl = _read_wsdl(wsdl)
        known = {op for op, _ in self._wsdl.operations.values()}
        unknown = set(answers) - known
        if unknown:
            raise ValueError(f"answers for operations the WSDL lacks: {sorted(unknown)}")
        self.answers = dict(answers)
        self.username, self._password, self._basic = username, password, basic
        self.encoding, self.declare_encoding, self.path = encoding, declare_encoding, path
        self.calls: list[SoapCall] = []
        self.refused_tokens = 0
        self._injections: list[_Injection] = []
        self._nonces: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the SOAP fake is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    @property
    def wsdl_url(self) -> str:
        return f"{self.url}?wsdl"

    def start(self) -> SoapLegacyFake:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="soap-legacy-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = self._thread = None

    # --- fault injection -----------------------------------------------------------------------

    def inject(
        self,
        kind: Literal["fault", "http_500", "slow"],
        *,
        times: int = 1,
        operation: str | None = None,
        code: str = "soap:Server",
        string: str = "injected fault",
        seconds: float = 1.0,
    ) -> None:
        """Misbehave on the next ``times`` calls (of ``operation``, or any): answer a SOAP Fault,
        a bare HTTP 500, or answer normally after ``seconds``."""
        with self._lock:
            self._injections.append(_Injection(kind, times, operation, code, string, seconds))

    def clear_faults(self) -> None:
        """Behave again: drop every injection not used up yet."""
        with self._lock:
            self._injections.clear()

    def _take_injection(self, operation: str) -> _Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.operation in (None, operation) and injection.times > 0:
                    injection.times -= 1
                    return injection
        return None

    def calls_to(self, operation: str) -> list[SoapCall]:
        with self._lock:
            return [c for c in self.calls if c.operation == operation]

    # --- answering -----------------------------------------------------------------------------

    def wsdl_text(self) -> bytes:
        """The WSDL with every ``soap:address`` pointing at this fake."""
        root = etree.fromstring(self._wsdl.text)
        for address in root.iter():
            if isinstance(address.tag, str) and etree.QName(address).localname == "address":
                address.set("location", self.url)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Status and body for one POST (the HTTP handler's whole job, testable without HTTP)."""
        if self._basic is not None and not _basic_ok(headers.get("authorization", ""), self._basic):
            return 401, b"authentication required"
        try:
            envelope = etree.fromstring(
                body, etree.XMLParser(resolve_entities=False, no_network=True)
            )
            request = envelope.find(f"{{{SOAP11}}}Body")[0]
        except (etree.XMLSyntaxError, TypeError, IndexError):
            return 500, self._fault("soap:Client", "the request is not a SOAP 1.1 envelope")
        found = self._wsdl.operations.get(etree.QName(request).localname)
        if found is None:
            return 500, self._fault(
                "soap:Client", f"unknown operation {etree.QName(request).localname}"
            )
        operation, response = found
        if self.username is not None:
            problem = self._token_problem(envelope)
            if problem:
                with self._lock:
                    self.refused_tokens += 1
                return 500, self._fault("wsse:FailedAuthentication", problem)
        values = _to_dict(request)
        with self._lock:
            self.calls.append(SoapCall(operation, values, headers))
        injection = self._take_injection(operation)
        if injection is not None:
            if injection.kind == "http_500":
                return 500, b"Internal Server Error"
            if injection.kind == "fault":
                return 500, self._fault(injection.code, injection.string)
            time.sleep(injection.seconds)
        answer = self.answers.get(operation)
        if answer is None:
            return 500, self._fault("soap:Server", f"the fake has no answer for {operation}")
        try:
            data = answer(values) if callable(answer) else answer
        except FakeFault as fault:
            return 500, self._fault(fault.code, fault.string, fault.detail)
        except Exception as exc:  # a broken sample answer: say which, never a traceback
            return 500, self._fault("soap:Server", f"sample answer failed: {type(exc).__name__}")
        return 200, self._envelope(_element(response, data, self._wsdl.qualified))

    def _token_problem(self, envelope: Any) -> str | None:
        token = envelope.find(f"{{{SOAP11}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            return "a WS-Security UsernameToken is required"
        user = token.findtext(f"{{{WSSE}}}Username")
        password = token.find(f"{{{WSSE}}}Password")
        nonce = token.findtext(f"{{{WSSE}}}Nonce") or ""
        created = token.findtext(f"{{{WSU}}}Created") or ""
        if password is None or not (password.get("Type") or "").endswith("#PasswordDigest"):
            return "the password must be sent as PasswordDigest"
        try:
            when = datetime.fromisoformat(created.replace("Z", "+00:00"))
            raw_nonce = base64.b64decode(nonce, validate=True)
        except ValueError:
            return "the token's Nonce or Created is malformed"
        if abs(datetime.now(UTC) - when) > TOKEN_AGE:
            return "the token is too old or from the future"
        digest = hashlib.sha1(raw_nonce + created.encode() + (self._password or "").encode())
        expected = base64.b64encode(digest.digest()).decode()
        if user != self.username or not hmac.compare_digest(expected, password.text or ""):
            return "The security token could not be authenticated or authorized"
        with self._lock:
            if nonce in self._nonces:
                return "the token's Nonce was used before (replay)"
            self._nonces.add(nonce)
        return None

    def _envelope(self, content: bytes) -> bytes:
        text = (
            f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>'
            + content.decode("utf-8")
            + "</soap:Body></soap:Envelope>"
        )
        head = (
            f'<?xml version="1.0" encoding="{self.encoding.upper()}"?>'
            if self.declare_encoding
            else ""
        )
        return (head + text).encode(self.encoding)

    def _fault(self, code: str, string: str, detail: str = "") -> bytes:
        extra = f"<detail>{escape(detail)}</detail>" if detail else ""
        prefix = code.split(":")[0] if ":" in code else ""
        declare = f' xmlns:wsse="{WSSE}"' if prefix == "wsse" else ""
        body = (
            f"<soap:Fault{declare}><faultcode>{escape(code)}</faultcode>"
            f"<faultstring>{escape(string)}</faultstring>{extra}</soap:Fault>"
        )
        return self._envelope(body.encode("utf-8"))


class _Handler(BaseHTTPRequestHandler):
    owner: SoapLegacyFake
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test's output is the test's."""

    def do_GET(self) -> None:
        if self.path.split("?")[0] != self.owner.path:
            self._send(404, b"not found", "text/plain")
            return
        basic = self.owner._basic
        if basic is not None and not _basic_ok(self.headers.get("Authorization", ""), basic):
            self._send(401, b"authentication required", "text/plain")
            return
        self._send(200, self.owner.wsdl_text(), "text/xml; charset=utf-8")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.path != self.owner.path or length > MAX_BODY:
            self._send(404 if self.path != self.owner.path else 413, b"refused", "text/plain")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, body = self.owner.answer(headers, self.rfile.read(length))
        except Exception as exc:  # the fake's own bug: a fault naming it, no traceback on stderr
            status, body = 500, self.owner._fault("soap:Server", f"fake failed: {exc!r}")
        kind = (
            "text/plain"
            if body == b"Internal Server Error" or status == 401
            else (f"text/xml; charset={self.owner.encoding}")
        )
        self._send(status, body, kind)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="legacy"')
        self.end_headers()
        self.wfile.write(body)


def _basic_ok(header: str, expected: tuple[str, str]) -> bool:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(given, f"{expected[0]}:{expected[1]}".encode())


def _to_dict(element: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        value: Any = _to_dict(child) if len(child) else (child.text or "")
        if name in out:
            out[name] = [*out[name], value] if isinstance(out[name], list) else [out[name], value]
        else:
            out[name] = value
    return out


def _element(qname: str, data: Mapping[str, Any], qualified: Mapping[str, bool]) -> bytes:
    namespace = etree.QName(qname).namespace or ""
    child_ns = namespace if qualified.get(namespace, False) else None
    root = etree.Element(qname, nsmap={"tns": namespace} if namespace else None)
    _fill(root, data, child_ns)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def _fill(parent: Any, data: Mapping[str, Any], namespace: str | None) -> None:
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            child = etree.SubElement(parent, f"{{{namespace}}}{name}" if namespace else name)
            if isinstance(item, Mapping):
                _fill(child, item, namespace)
            else:
                child.text = _text(item)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | datetime | Decimal):
        return value.isoformat() if not isinstance(value, Decimal) else str(value)
    return str(value)
