"""What the data is: typed, classified records and the national resource-catalog metadata.

Lives here: classification levels (``classification``), identity numbers and their check digits
(``identity``), national code tables (``codetables``), record fields and information items
(``fields``), the catalog model and its rules (``model``) and catalog diffs (``diff``).

May import: the core modules at the top of the package (``govconnect._exceptions``,
``govconnect._validation``) and nothing else of govconnect. Everything above builds on it.
"""
