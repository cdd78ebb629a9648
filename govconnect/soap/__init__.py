"""Legacy SOAP/WebService systems: read with a WSDL operation, write cases into one.

Needs the optional extra ``govconnect[soap]`` (zeep, lxml); ``import govconnect`` never imports
this package, so core installs stay free of zeep. See docs/soap.md.

Lives here: :class:`SoapClient` (calls, faults and retries, records streamed, :class:`Pages` and
:class:`Cursor` paging), :class:`SoapSecurity` (UsernameToken digest, HTTP Basic, client
certificates), the WSDL walk (``_schema``), the transport that decodes GBK/GB18030 and never logs
an envelope (``_transport``), and :class:`SoapSink` with its intake target :func:`soap_input`.

May import: the core, ``catalog``, ``exchange`` (the retry policy), ``cases`` (sinks). Sits at the
capability layer beside ``bridge``, ``gateway`` and ``publish``, and imports none of them.
"""

from __future__ import annotations

from ._client import Cursor, Pages, SoapClient
from ._schema import MessageField, python_type
from ._sink import SoapInput, SoapSink, soap_input
from ._transport import SoapSecurity, to_utf8

__all__ = [
    "Cursor",
    "MessageField",
    "Pages",
    "SoapClient",
    "SoapInput",
    "SoapSecurity",
    "SoapSink",
    "python_type",
    "soap_input",
    "to_utf8",
]
