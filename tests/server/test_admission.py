"""Admission: bounded FIFO lanes per model, Retry-After estimates, abandoning, multi-model tickets.

Fast tests of livemind/server/admission.py (the HTTP server's queue). Waiting threads are joined with
a timeout, so a broken lane fails the test instead of hanging it.
"""

from __future__ import annotations

import threading

import pytest

from livemind.errors import BusyError, GenerationCancelled
from livemind.server.admission import Admission, Ticket

JOIN_S = 10.0


def _wait_in_thread(ticket: Ticket, outcome: list[str], started: threading.Event | None = None) -> threading.Thread:
    def run() -> None:
        if started is not None:
            started.set()
        try:
            ticket.wait()
            outcome.append("ran")
        except GenerationCancelled:
            outcome.append("cancelled")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_full_lane_refuses_with_a_retry_after_that_grows_with_the_line() -> None:
    admission = Admission(max_queue=2, initial_service_s=4.0)
    tickets = [admission.enter(["smollm2"]) for _ in range(3)]  # 1 running + 2 waiting
    with pytest.raises(BusyError) as refused:
        admission.enter(["smollm2"])
    assert "queue for model 'smollm2' is full" in refused.value.message
    assert "limit is 2 waiting" in refused.value.message
    assert refused.value.retry_after_s == 12.0  # three ahead, 4 s each, one at a time
    lane = admission.status()[0]
    assert (lane.model, lane.waiting, lane.rejected, lane.capacity) == ("smollm2", 3, 1, 3)
    for ticket in tickets:
        ticket.release()
    admission.enter(["smollm2"]).release()  # room again once the line moved


def test_lanes_of_different_models_do_not_share_places() -> None:
    admission = Admission(max_queue=0)
    first = admission.enter(["smollm2"])
    other = admission.enter(["gemma3"])
    with pytest.raises(BusyError):
        admission.enter(["smollm2"])
    first.release()
    other.release()


def test_tickets_run_one_at_a_time_in_arrival_order() -> None:
    admission = Admission(max_queue=4)
    first, second, third = (admission.enter(["m"]) for _ in range(3))
    first.wait()
    order: list[str] = []
    waiters = [_wait_in_thread(second, order), _wait_in_thread(third, order)]
    assert [lane.active for lane in admission.status()] == [1]
    first.release()
    waiters[0].join(JOIN_S)
    assert order == ["ran"], "the second ticket runs when the first leaves; the third still waits"
    second.release()
    waiters[1].join(JOIN_S)
    assert order == ["ran", "ran"]
    third.release()
    assert admission.status()[0].active == 0 and admission.status()[0].waiting == 0


def test_an_abandoned_ticket_stops_waiting_and_gives_up_its_place() -> None:
    admission = Admission(max_queue=1)
    running = admission.enter(["m"])
    running.wait()
    waiting = admission.enter(["m"])
    outcome: list[str] = []
    started = threading.Event()
    thread = _wait_in_thread(waiting, outcome, started)
    assert started.wait(JOIN_S)
    waiting.abandon()
    thread.join(JOIN_S)
    assert outcome == ["cancelled"]
    waiting.release()
    admission.enter(["m"]).release()  # its place is free again
    running.release()


def test_tickets_needing_two_models_in_opposite_order_never_deadlock() -> None:
    admission = Admission(max_queue=2)
    a = admission.enter(["m1", "m2"])
    b = admission.enter(["m2", "m1"])
    a.wait()
    outcome: list[str] = []
    thread = _wait_in_thread(b, outcome)
    a.release()
    thread.join(JOIN_S)
    assert outcome == ["ran"]
    b.release()


def test_closing_wakes_every_waiter_and_refuses_newcomers() -> None:
    admission = Admission(max_queue=2)
    running = admission.enter(["m"])
    running.wait()
    outcome: list[str] = []
    thread = _wait_in_thread(admission.enter(["m"]), outcome)
    admission.close()
    thread.join(JOIN_S)
    assert outcome == ["cancelled"]
    with pytest.raises(BusyError, match="shutting down"):
        admission.enter(["m"])


def test_remote_models_may_run_several_requests_at_once() -> None:
    admission = Admission(max_queue=0, concurrency={"remote-gpt": 3})
    tickets = [admission.enter(["remote-gpt"]) for _ in range(3)]
    for ticket in tickets:
        ticket.wait(timeout_s=1)  # all three run at once: none has to wait
    assert admission.status()[0].active == 3
    with pytest.raises(BusyError):
        admission.enter(["remote-gpt"])
