"""session.InfperfSession: the run's state in one object."""

from __future__ import annotations

from pytest_infperf.session import InfperfSession


def test_the_session_has_no_unused_sources_field() -> None:
    assert "sources" not in InfperfSession.__dataclass_fields__
