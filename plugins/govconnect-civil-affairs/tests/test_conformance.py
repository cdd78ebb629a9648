"""The standard govconnect conformance checks, run on this connector's sample legacy system."""

from govconnect.testing import conformance_tests

from govconnect_civil_affairs import conformance

TestConformance = conformance_tests(conformance)
