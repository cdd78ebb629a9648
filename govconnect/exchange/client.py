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
from .retry import DEFAULT_POLICY, RetryPolicy, parse_retry_after

__all__ = ["ExchangeClient", "PlatformDiff", "PublishResult"]

log = logging.getLogger(__name__)

_RETRYABLE_TRANSPORT_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


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
    ) -> None:
        if not P.NODE_PATTERN.match(node):
            raise ConfigurationError(f"node {node!r} is not {{department_code}}/{{system_code}}")
        if not token:
            raise ConfigurationError("a platform token is required")
        if not user_id:
            raise ConfigurationError("a default user id (handling officer) is required")
        self.node = node
        self.user_id = user_id
        self.retry = retry
        self._new_message_id = new_message_id
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            limits=limits or httpx.Limits(max_connections=32, max_keepalive_connections=16),
            headers={P.HEADER_AUTHORIZATION: f"Bearer {token}", P.HEADER_NODE: node},
        )

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
        response = self._request("PUT", P.resource_path(code), content=orjson.dumps(body), **trace)
        return response.json()

    def list_resources(self, **trace: Any) -> list[dict[str, Any]]:
        """The latest version of every resource in the platform's catalog."""
        return self._request("GET", P.PATH_RESOURCES, **trace).json()["resources"]

    def get_resource(
        self, code: str, version: int | None = None, **trace: Any
    ) -> dict[str, Any] | None:
        """One resource (latest version unless ``version``), or None when the platform has none."""
        params = {"version": version} if version is not None else None
        try:
            return self._request("GET", P.resource_path(code), params=params, **trace).json()
        except PlatformRejectedError as exc:
            if exc.status == 404:
                return None
            raise

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
        data = self._request(
            "POST", P.PATH_RECORDS, content=body, idempotency_key=idempotency_key, **trace
        ).json()
        return PublishResult(
            data["resource_code"], data["accepted"], data["duplicate"], data["batch_id"]
        )

    # --- intake --------------------------------------------------------------------------------

    def pull_cases(self, limit: int = 100, **trace: Any) -> list[dict[str, Any]]:
        """New cases addressed to this node, oldest first; each comes back until acknowledged."""
        return self._request("GET", P.PATH_CASES, params={"limit": limit}, **trace).json()["cases"]

    def ack_case(self, case_id: str, **trace: Any) -> None:
        """Acknowledge a case once it is safely stored (idempotent)."""
        trace.setdefault("case_id", case_id)
        self._request("POST", P.case_ack_path(case_id), **trace)

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
        return self._request(
            "POST",
            P.case_status_path(case_id),
            content=orjson.dumps(body),
            idempotency_key=idempotency_key,
            **trace,
        ).json()

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
    ) -> httpx.Response:
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

        def once() -> httpx.Response:
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
    ) -> httpx.Response:
        extra = {"method": method, "path": path, "message_id": headers[P.HEADER_MESSAGE_ID]}
        try:
            response = self._http.request(
                method, path, content=content, params=params, headers=headers
            )
        except _RETRYABLE_TRANSPORT_ERRORS as exc:
            log.info("%s %s: %s", method, path, type(exc).__name__, extra=extra)
            raise RetryableError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ExchangeError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        log.debug("%s %s -> %d", method, path, status, extra={**extra, "status": status})
        if status < 400:
            return response
        error, message, problems = _error_body(response)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get(P.HEADER_RETRY_AFTER))
            raise RetryableError(
                f"{method} {path}: {status} {error}: {message}",
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


def _error_body(response: httpx.Response) -> tuple[str, str, list[Problem]]:
    """(error, message, problems) from an error response, tolerating a body that is not ours."""
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return "http_error", response.text[:200], []
    if not isinstance(data, dict):
        return "http_error", str(data)[:200], []
    problems = [
        Problem(str(p.get("field", "")), str(p.get("rule", "")), str(p.get("message", "")))
        for p in data.get("problems") or []
        if isinstance(p, dict)
    ]
    return str(data.get("error", "http_error")), str(data.get("message", "")), problems
