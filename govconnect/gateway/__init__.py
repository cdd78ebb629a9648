"""The department gateway: serving catalogued services to other departments, safely.

Lives here: the access policy and its file (``policy``), field masking (``masking``), the ASGI
application (``app``), the tamper-evident audit log (``audit``), request metrics (``metrics``)
and the gateway's OpenAPI document (``openapi``).

May import: the connector framework at the top of the package (connector, registry, export),
``govconnect.catalog`` and the core modules. Not ``bridge``, ``publish``, ``testing`` or ``cli``.
"""
