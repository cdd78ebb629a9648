"""The department gateway: serving catalogued services to other departments, safely.

Lives here: the access policy and its file (``policy``), officers' identity tokens verified
against the trusted OIDC issuers (``identity``) and the officer rules applied per call
(``officers``), field masking (``masking``), the ASGI
application (``app``) and what it is made of — what a call asks and its canonical request hash
(``request``), what it answers (``responses``), signed ``next_page`` tokens (``paging``), the
discovery listings (``discovery``), the bounds on what a caller sends, its header text made safe
to store and print, and the outermost ASGI guard (``bounds``) — the tamper-evident audit log
(``audit``, its SQLite store; ``audit_postgres``, the same log on PostgreSQL, shared by several
gateway processes) and its parts (``audit_record``: what a record holds and in what
order it is hashed; ``audit_chain``: the keyed hash chain, seal and verification;
``audit_sqlite``: read-only opening, the key file and the seal in SQLite, verification in one
snapshot; ``audit_reports``: usage and exports),
request metrics and the outbox's gauges (``metrics``) and the gateway's OpenAPI document (``openapi``).

May import: the connector framework at the top of the package (connector, registry, export),
``govconnect.catalog``, ``govconnect.exchange`` (the outbox's PostgreSQL URL, and its status
for the metrics) and the core modules. Not ``bridge``, ``publish``, ``testing`` or ``cli``.
"""
