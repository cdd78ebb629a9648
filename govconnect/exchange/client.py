"""The exchange client: govconnect's one way of talking to the exchange platform, on httpx.

Every request names the calling node, carries the node's bearer token, a message id, the handling
officer and (where there is one) the case id, as ``docs/platform-api.yaml`` requires. Failures are
translated at this boundary into the one exception tree: transient ones (connect errors, timeouts,
dropped connections, 429, 5xx) become :class:`RetryableError` carrying ``Retry-After``; a 4xx becomes
:class:`PlatformRejectedError` carrying the platform's problems. Calls are retried by a
:class:`RetryPolicy` (``retry=None`` for a single attempt, as the delivery worker wants).

``transport=`` is the unit-test seam: pass ``httpx.MockTransport(handler)``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import orjson

from .._exceptions import (
    ConfigurationError,
    ExchangeError,
    InvalidInputError,
    PlatformRejectedError,
    Problem,
    RetryableError,
)
from . import platform as P
from .answers import Answer, as_list, as_object, as_objects, member, redirect
from .bounded import ACCEPT_ENCODING, deadline, install_deadline, read_body
from .retry import DEFAULT_POLICY, RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_REQUEST_DEADLINE",
    "ExchangeClient",
    "PlatformDiff",
    "PublishResult",
]

log = logging.getLogger(__name__)

_RETRYABLE_TRANSPORT_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
"""16 MiB decoded: a page of 1,000 cases or a large catalog fits many times; a runaway answer not."""
DEFAULT_REQUEST_DEADLINE = 60.0
"""Seconds one attempt may take from connecting to the last byte of the answer, however it trickles."""


@dataclass(frozen=True, slots=True)
class PublishResult:
    """The platform's answer to a record batch; ``duplicate`` means the key was already applied."""

    resource_code: str
    accepted: int
    duplicate: bool
    batch_id: str


@dataclass(frozen=True, slots=True)
class PlatformDiff:
    """How local catalog resources compare with what the platform holds, by resource code.

    ``changed`` holds resources whose content differs from the platform's latest version (publish
    them with a higher ``version``); ``only_on_platform`` holds codes the platform has and we do not.
    """

    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    only_on_platform: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not (self.new or self.changed)


def _as_dict(resource: Mapping[str, Any] | Any) -> dict[str, Any]:
    """A resource as a JSON-ready dict: a mapping, or a pydantic model (the SDK's ``Resource``)."""
    if isinstance(resource, Mapping):
        return dict(resource)
    dump = getattr(resource, "model_dump", None)
    if dump is None:
        raise TypeError(f"a resource is a mapping or a pydantic model, not {type(resource)!r}")
    return dump(mode="json")


class ExchangeClient:
    """A pooled, keep-alive HTTP client for the exchange platform, safe to share between threads.

    ``node`` is ``{department_code}/{system_code}``; ``user_id`` is the default handling officer,
    overridable per call. The token is sent as ``Authorization: Bearer`` and never logged.

    What a platform (or anything posing as one) can make the client do is bounded: an answer's
    decoded body is at most ``max_response_bytes``, one attempt ends by ``request_deadline``
    seconds however slowly the bytes arrive (``timeout`` still bounds each socket operation), a
    3xx is never followed, and only the documented JSON counts as success.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str,
        node: str,
        user_id: str,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = DEFAULT_POLICY,
        transport: httpx.BaseTransport | None = None,
        limits: httpx.Limits | None = None,
        new_message_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        request_deadline: float = DEFAULT_REQUEST_DEADLINE,
    ) -> None:
        if not P.NODE_PATTERN.match(node):
            raise ConfigurationError(f"node {node!r} is not {{department_code}}/{{system_code}}")
        if not token:
            raise ConfigurationError("a platform token is required")
        if not user_id:
            raise ConfigurationError("a default user id (handling officer) is required")
        if not (isinstance(max_response_bytes, int) and max_response_bytes > 0):
            raise ConfigurationError(f"max_response_bytes is bytes > 0, not {max_response_bytes!r}")
        if not 0 < request_deadline < math.inf:
            raise ConfigurationError(f"request_deadline is seconds > 0, not {request_deadline!r}")
        self.max_response_bytes = max_response_bytes
        self.request_deadline = request_deadline
        self.node = node
        self.user_id = user_id
        self.retry = retry
        self._new_message_id = new_message_id
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            limits=limits or httpx.Limits(max_connections=32, max_keepalive_connections=16),
            headers={
                P.HEADER_AUTHORIZATION: f"Bearer {token}",
                P.HEADER_NODE: node,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
        )
        install_deadline(self._http)

    def __repr__(self) -> str:
        return f"ExchangeClient({str(self._http.base_url)!r}, node={self.node!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- catalog -------------------------------------------------------------------------------

    def put_resource(self, resource: Mapping[str, Any] | Any, **trace: Any) -> dict[str, Any]:
        """Register one resource version (idempotent by code + version); returns status + resource."""
        body = _as_dict(resource)
        code = body.get("code")
        if not isinstance(code, str) or not P.RESOURCE_CODE_PATTERN.match(code):
            raise InvalidInputError(
                [Problem("code", "pattern", "resource code like 111112001/2001")]
            )
        answer = self._request("PUT", P.resource_path(code), content=orjson.dumps(body), **trace)
        return as_object(answer, "resource")

    def list_resources(self, **trace: Any) -> list[dict[str, Any]]:
        """The latest version of every resource in the platform's catalog."""
        answer = self._request("GET", P.PATH_RESOURCES, **trace)
        return as_objects(answer, as_object(answer, "resources"), "resources", key="code")

    def get_resource(
        self, code: str, version: int | None = None, **trace: Any
    ) -> dict[str, Any] | None:
        """One resource (latest version unless ``version``), or None when the platform has none."""
        params = {"version": version} if version is not None else None
        try:
            answer = self._request("GET", P.resource_path(code), params=params, **trace)
        except PlatformRejectedError as exc:
            if exc.status == 404:
                return None
            raise
        return as_object(answer, "resource")

    def diff_catalog(
        self, resources: Iterable[Mapping[str, Any] | Any], **trace: Any
    ) -> PlatformDiff:
        """Compare local resources with the platform's latest versions."""
        remote = {r["code"]: r for r in self.list_resources(**trace)}
        diff = PlatformDiff()
        seen = set()
        for resource in resources:
            body = _as_dict(resource)
            seen.add(body["code"])
            theirs = remote.get(body["code"])
            if theirs is None:
                diff.new.append(body)
            elif theirs == body:
                diff.unchanged.append(body)
            else:
                diff.changed.append(body)
        diff.only_on_platform.extend(sorted(set(remote) - seen))
        return diff

    def sync_catalog(
        self, resources: Iterable[Mapping[str, Any] | Any], **trace: Any
    ) -> PlatformDiff:
        """Put every new or changed resource; returns the diff that was applied."""
        diff = self.diff_catalog(resources, **trace)
        for body in [*diff.new, *diff.changed]:
            self.put_resource(body, **trace)
        return diff

    # --- exchange ------------------------------------------------------------------------------

    def publish(
        self,
        resource_code: str,
        records: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str,
        **trace: Any,
    ) -> PublishResult:
        """Publish a batch of records. Reusing ``idempotency_key`` for a retry is what makes it
        exactly-once; use the outbox to keep the key stable across crashes."""
        return self.publish_encoded(
            resource_code,
            [orjson.dumps(r) for r in records],
            idempotency_key=idempotency_key,
            **trace,
        )

    def publish_encoded(
        self, resource_code: str, records: Sequence[bytes], *, idempotency_key: str, **trace: Any
    ) -> PublishResult:
        """Publish records already encoded as JSON objects."""
        if not records:
            raise InvalidInputError([Problem("records", "non_empty", "a batch needs a record")])
        return self.publish_joined(
            resource_code, b",".join(records), idempotency_key=idempotency_key, **trace
        )

    def publish_joined(
        self, resource_code: str, joined: bytes, *, idempotency_key: str, **trace: Any
    ) -> PublishResult:
        """Publish JSON objects already joined by commas (the outbox reads them that way)."""
        if not joined:
            raise InvalidInputError([Problem("records", "non_empty", "a batch needs a record")])
        body = b'{"resource_code":%b,"records":[%b]}' % (orjson.dumps(resource_code), joined)
        answer = self._request(
            "POST", P.PATH_RECORDS, content=body, idempotency_key=idempotency_key, **trace
        )
        data = as_object(answer, "batch result")
        return PublishResult(
            member(answer, data, "resource_code", str),
            member(answer, data, "accepted", int),
            member(answer, data, "duplicate", bool),
            member(answer, data, "batch_id", str),
        )

    def post_correction(
        self, notice: Mapping[str, Any] | bytes, *, idempotency_key: str, **trace: Any
    ) -> dict[str, Any]:
        """Send one correction notice (``CorrectionNotice`` of the contract; a mapping, or one
        already encoded as a JSON object, as the outbox holds it); returns the platform's answer,
        whose ``duplicate`` is true when the notice was already accepted. Build notices with
        :func:`govconnect.crosscheck.correction_notices`; send them through the outbox."""
        body = notice if isinstance(notice, bytes) else orjson.dumps(dict(notice))
        answer = self._request(
            "POST", P.PATH_CORRECTIONS, content=body, idempotency_key=idempotency_key, **trace
        )
        return as_object(answer, "correction answer")

    # --- intake --------------------------------------------------------------------------------

    def pull_cases(self, limit: int = 100, **trace: Any) -> list[Any]:
        """New cases addressed to this node, oldest first; each comes back until acknowledged.

        The answer must be an object with a ``cases`` array; its elements are returned as they
        came. One element that breaks the contract (not an object, no usable ``case_id``) must not
        hide the cases behind it: the intake bridge judges each and counts the bad one as
        ``malformed``.
        """
        answer = self._request("GET", P.PATH_CASES, params={"limit": limit}, **trace)
        return as_list(answer, as_object(answer, "cases"), "cases")

    def ack_case(self, case_id: str, **trace: Any) -> None:
        """Acknowledge a case once it is safely stored (idempotent)."""
        trace.setdefault("case_id", case_id)
        as_object(self._request("POST", P.case_ack_path(case_id), **trace), "acknowledgement")

    def post_status(
        self,
        case_id: str,
        status: str,
        *,
        result: Mapping[str, Any] | None = None,
        reasons: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        **trace: Any,
    ) -> dict[str, Any]:
        """Post a status change (accepted / in_progress / completed / returned) with result data."""
        body = status_body(status, result=result, reasons=reasons)
        trace.setdefault("case_id", case_id)
        answer = self._request(
            "POST",
            P.case_status_path(case_id),
            content=orjson.dumps(body),
            idempotency_key=idempotency_key,
            **trace,
        )
        return as_object(answer, "status answer")

    # --- the one request path ------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        message_id: str | None = None,
        user_id: str | None = None,
        case_id: str | None = None,
        retry: RetryPolicy | bool | None = True,
    ) -> Answer:
        headers = {
            P.HEADER_MESSAGE_ID: message_id or self._new_message_id(),
            P.HEADER_USER_ID: user_id or self.user_id,
        }
        if case_id:  # percent-encoded UTF-8, so any Unicode id survives (docs/platform-api.yaml)
            headers[P.HEADER_CASE_ID] = P.encode_case_id(case_id)
        if idempotency_key:
            headers[P.HEADER_IDEMPOTENCY_KEY] = idempotency_key
        if content is not None:
            headers["Content-Type"] = "application/json"
        policy = self.retry if retry is True else (retry or None)

        def once() -> Answer:
            return self._send_once(method, path, content, params, headers)

        if policy is None:
            return once()
        return policy.retrying(describe=f"{method} {path}")(once)

    def _send_once(
        self,
        method: str,
        path: str,
        content: bytes | None,
        params: Mapping[str, Any] | None,
        headers: dict[str, str],
    ) -> Answer:
        what = f"{method} {path}"
        extra = {"method": method, "path": path, "message_id": headers[P.HEADER_MESSAGE_ID]}
        try:
            with deadline(self.request_deadline) as end:
                request = self._http.build_request(
                    method, path, content=content, params=params, headers=headers
                )
                response = self._http.send(request, stream=True)
                try:
                    status = response.status_code
                    if 300 <= status < 400:
                        raise redirect(what, response)
                    body = read_body(
                        response,
                        limit=self.max_response_bytes,
                        what=what,
                        end=end,
                        truncate=status >= 400,
                    )
                finally:
                    response.close()
        except _RETRYABLE_TRANSPORT_ERRORS as exc:
            log.info("%s %s: %s", method, path, type(exc).__name__, extra=extra)
            raise RetryableError(f"{what}: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ExchangeError(f"{what}: {type(exc).__name__}: {exc}") from exc
        log.debug("%s %s -> %d", method, path, status, extra={**extra, "status": status})
        if status < 300:
            return Answer(what, status, body)
        error, message, problems = _error_body(body)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get(P.HEADER_RETRY_AFTER))
            raise RetryableError(
                f"{what}: {status} {error}: {message}",
                status=status,
                retry_after=retry_after,
            )
        raise PlatformRejectedError(status, message or error, problems)


def status_body(
    status: str, *, result: Mapping[str, Any] | None = None, reasons: Sequence[str] | None = None
) -> dict[str, Any]:
    """The StatusChange body, refused at the edge when it breaks the contract."""
    problems = []
    if status not in P.CASE_STATUSES:
        problems.append(Problem("status", "enum", "one of " + ", ".join(P.CASE_STATUSES)))
    if status == "returned" and not reasons:
        problems.append(Problem("reasons", "required", "a returned case needs its reasons"))
    if problems:
        raise InvalidInputError(problems)
    body: dict[str, Any] = {"status": status}
    if result is not None:
        body["result"] = dict(result)
    if reasons:
        body["reasons"] = list(reasons)
    return body


def _error_body(content: bytes) -> tuple[str, str, list[Problem]]:
    """(error, message, problems) from an error response, tolerating a body that is not ours."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return "http_error", content[:200].decode("utf-8", "replace"), []
    if not isinstance(data, dict):
        return "http_error", str(data)[:200], []
    raw = data.get("problems")
    problems = [
        Problem(str(p.get("field", "")), str(p.get("rule", "")), str(p.get("message", "")))
        for p in (raw if isinstance(raw, list) else [])
        if isinstance(p, dict)
    ]
    return str(data.get("error", "http_error")), str(data.get("message", "")), problems
