"""The intake bridge: cases from the unified intake platform into legacy systems, statuses back.

Lives here: the bridge that claims cases, maps them and writes them through their sinks
(``bridge``), how a case and its status commit — one transaction when the sink's database holds
the outbox, else two stores (``commit``), the journal that makes every case apply once
(``journal``) and what a round reports about each case and in total (``report``).

May import: the connector framework at the top of the package (connector, registry),
``govconnect.cases``, ``govconnect.exchange``, ``govconnect.catalog`` and the core modules.
Not ``gateway``, ``publish``, ``testing`` or ``cli``.
"""
