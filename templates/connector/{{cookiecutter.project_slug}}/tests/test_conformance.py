"""The standard govconnect conformance checks, run on this connector's sample legacy system."""

from govconnect.testing import conformance_tests

from {{ cookiecutter.__package_name }} import conformance

TestConformance = conformance_tests(conformance)
