"""The standard govconnect conformance checks, run on the household connector."""

from govconnect_household import conformance

from govconnect.testing import conformance_tests

TestConformance = conformance_tests(conformance)
