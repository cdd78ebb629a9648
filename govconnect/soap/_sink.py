"""Parameter passing to a legacy WebService: a case mapped onto an operation's input message.

The intake target is the operation's input, read from the WSDL when the plugin loads, so a mapping
that names an element the service does not have, or leaves a required one unmapped, is a load
error naming both — as for SQL targets and their tables::

    HJXT_WSDL = Path(__file__).with_name("hjxt.wsdl")

    @intake(matter_code="…", name="户口迁入登记",
            target=soap_input(HJXT_WSDL, "SubmitApplication"),
            mapping={"sqbh": From("case_id"), "sqr.xm": From("applicant.name"), …})
    def move_in(self) -> SoapSink:
        return SoapSink(self.soap, "SubmitApplication", reference="slbh")
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from .._exceptions import (
    ConfigurationError,
    InvalidInputError,
    LegacySystemError,
    Problem,
    RetryableError,
    SoapFaultError,
)
from ..cases.sinks import SinkResult
from ..cases.sinks.api import RETRYABLE_STATUSES
from ._client import SoapClient, jsonable
from ._schema import MessageField, path_value

__all__ = ["SoapInput", "SoapSink", "soap_input"]


class SoapInput(Mapping[str, bool]):
    """An operation's input message as an intake target: dotted element path → required.

    The WSDL is read on first use (when the connector's declaration is checked), not on import,
    so a missing file is reported as a problem of the handler instead of breaking the import.
    """

    def __init__(self, wsdl: str | Path, operation: str, **client_options: Any) -> None:
        self.wsdl, self.operation, self._options = str(wsdl), operation, client_options
        self._fields: dict[str, MessageField] | None = None

    @property
    def name(self) -> str:
        return f"{self.operation} input of {Path(self.wsdl).name}"

    @property
    def fields(self) -> dict[str, MessageField]:
        if self._fields is None:
            try:
                client = SoapClient(self.wsdl, **self._options)
                try:
                    found = client.input_fields(self.operation)
                finally:
                    client.close()
            except ConfigurationError as exc:
                # target_fields() reports a TypeError as the handler's intake.target problem
                raise TypeError(str(exc)) from None
            self._fields = {f.path: f for f in found}
        return self._fields

    def __getitem__(self, key: str) -> bool:
        return self.fields[key].required

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)


def soap_input(wsdl: str | Path, operation: str, **client_options: Any) -> SoapInput:
    """The intake target for ``operation`` of the WSDL (a file shipped with the plugin, best)."""
    return SoapInput(wsdl, operation, **client_options)


class SoapSink:
    """Call a WebService operation with the mapped case, idempotently by case id.

    The case id travels as the ``Idempotency-Key`` HTTP header (as with :class:`ApiSink`) and, as
    the mapping puts it, inside the message. The answer's ``reference`` path is the legacy
    reference reported upstream; a true ``duplicate`` path, or a fault whose code is in
    ``duplicate_codes``, means "already have it". A fault whose code is in ``refuse_codes``
    (``Client``/``Sender``: the message was at fault) returns the case with the fault string;
    any other fault, a timeout or 5xx leaves the case for the next round.
    """

    def __init__(
        self,
        client: SoapClient,
        operation: str,
        *,
        reference: str | None = None,
        duplicate: str | None = "duplicate",
        key_header: str = "Idempotency-Key",
        refuse_codes: Collection[str] = ("Client", "Sender"),
        duplicate_codes: Collection[str] = (),
    ) -> None:
        self.client, self.operation = client, operation
        self.reference, self.duplicate, self.key_header = reference, duplicate, key_header
        self.refuse_codes, self.duplicate_codes = set(refuse_codes), set(duplicate_codes)
        client.input_fields(operation)  # an unknown operation fails now, naming what exists

    def write(self, case_id: str, values: Mapping[str, Any]) -> SinkResult:
        try:
            answer = self.client.call(
                self.operation, dict(values), headers={self.key_header: case_id}
            )
        except SoapFaultError as exc:
            if exc.code_name in self.duplicate_codes:
                return SinkResult(applied=False)
            if exc.code_name in self.refuse_codes:
                field = exc.detail if exc.detail and len(exc.detail) < 64 else "(legacy)"
                raise InvalidInputError(
                    [Problem(field, f"soap_fault.{exc.code_name}", exc.string)],
                    summary=f"the legacy system refused the case ({exc.code})",
                ) from None
            raise RetryableError(str(exc)) from None
        except LegacySystemError as exc:
            if exc.status in RETRYABLE_STATUSES:
                raise RetryableError(str(exc), status=exc.status) from None
            raise InvalidInputError(
                [Problem("(legacy)", f"http_{exc.status}", str(exc))],
                summary="the legacy system refused the case",
            ) from None
        reference = (
            path_value(answer, self.reference)
            if self.reference
            else next((v for k in ("reference", "id") if (v := path_value(answer, k))), None)
        )
        return SinkResult(
            applied=not (self.duplicate and path_value(answer, self.duplicate)),
            reference=str(reference) if reference is not None else None,
            result=jsonable(answer) if isinstance(answer, Mapping) else {},
        )

    def close(self) -> None:
        self.client.close()
