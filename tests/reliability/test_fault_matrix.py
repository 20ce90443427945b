"""The fault matrix over a real socket: each case through a single create and in create_many.

Every case asserts the attempts made, the time spent (loose bounds), the result or error,
and what the server registered; every run asserts that no order is lost (reported
registered but not on the server) or registered twice. The cases live in ``_matrix.py``.
"""

from __future__ import annotations

import pytest

from tests.reliability._matrix import CASES, MODES, Case, Mode, Observation, check_outcome, run_case
from tests.reliability.conftest import Recorder

TOKEN = "matrix-token"
#: A bulk run may take this much longer than a single create of the same case.
BULK_SLACK = 1.0


def check_ledger(observed: Observation) -> None:
    """No order lost, none registered twice, and the client's count matches the server's."""
    for outcome in observed.outcomes:
        assert observed.registrations[outcome.order_id] <= 1, outcome.order_id
        if outcome.result is not None:
            assert observed.exists[outcome.order_id], f"{outcome.order_id} lost"
    assert observed.requests_sent == sum(observed.attempts.values())


def check_subject(observed: Observation) -> None:
    """The orders meeting the fault end as the case says, after the attempts it says."""
    case = observed.case
    for outcome in observed.outcomes:
        if observed.affected(outcome.order_id):
            check_outcome(observed, outcome)
            assert observed.attempts[outcome.order_id] == case.attempts, outcome.order_id
            assert observed.registrations[outcome.order_id] == case.registered, outcome.order_id


def check_bystanders(observed: Observation) -> None:
    """In a bulk run, the orders that met no fault are registered at the first request."""
    for outcome in observed.outcomes:
        if not observed.affected(outcome.order_id):
            assert outcome.error is None, f"{outcome.order_id}: {outcome.error!r}"
            assert outcome.result is not None
            assert not outcome.result.already_registered
            assert observed.attempts[outcome.order_id] == 1
            assert observed.registrations[outcome.order_id] == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[case.slug for case in CASES])
async def test_fault(case: Case, mode: Mode, record: Recorder) -> None:
    """The case ends as expected, on time, with every order registered at most once."""
    observed = await run_case(case, mode, TOKEN)
    low, high = case.elapsed
    record(
        "fault_matrix",
        case=case.name,
        mode=mode,
        expected=case.expected.__name__ if case.expected else "registered",
        observed=observed.summary(),
        attempts=observed.attempts[observed.subject],
        seconds=round(observed.elapsed, 3),
        bounds=f"{low:g}-{high + (BULK_SLACK if mode == 'create_many' else 0):g}",
        orders=len(observed.outcomes),
        registered=sum(observed.registrations.values()),
        twice=sum(1 for count in observed.registrations.values() if count > 1),
    )
    check_ledger(observed)
    check_subject(observed)
    check_bystanders(observed)
    assert len(observed.outcomes) == (1 if mode == "create" else 4)
    if mode == "create_many":
        high += BULK_SLACK
    assert low <= observed.elapsed <= high, f"{observed.elapsed:.3f} s"
