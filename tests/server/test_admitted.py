"""The admission use-case both adapters run: enter, wait, count, succeed or fail, and always release."""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.errors import EngineError, LiveMindError
from livemind.server.admission import Admission
from livemind.server.admitted import OPEN_DOOR, AdmittedRun, GatedDoor, doorway, lane_concurrency
from livemind.server.gate import Gate
from livemind.server.metrics import Metrics
from tests.support.minds import scripted_config


def _door() -> tuple[GatedDoor, Admission, Metrics]:
    admission, metrics = Admission(max_queue=1, concurrency={"smollm2-135m": 1}), Metrics()
    return GatedDoor(Gate(admission, metrics)), admission, metrics


def _requests(metrics: Metrics, outcome: str) -> float:
    return metrics.registry.get_sample_value("livemind_requests_total", {"endpoint": "http_test", "model": "m",
                                                                          "outcome": outcome}) or 0.0


def test_a_run_that_succeeds_counts_its_tokens_and_leaves_the_lane(tmp_path: Path) -> None:
    door, admission, metrics = _door()
    config = scripted_config(tmp_path)
    with AdmittedRun(door.enter(config, ["alpha", "beta"], endpoint="http_test", label="m")) as run:
        run.wait()
        assert admission.status()[0].active == 1, "both experts share one model: one place in its lane"
        for _ in range(3):
            run.token()
        run.succeed(tok_s=10.0)
    assert admission.status()[0].active == 0
    assert _requests(metrics, "ok") == 1
    assert metrics.registry.get_sample_value("livemind_generated_tokens_total", {"model": "m", "outcome": "ok"}) == 3


def test_a_livemind_error_fails_the_run_and_still_releases_the_lane(tmp_path: Path) -> None:
    door, admission, metrics = _door()
    with pytest.raises(EngineError), AdmittedRun(door.enter(scripted_config(tmp_path), ["alpha"],
                                                               endpoint="http_test", label="m")) as run:
        run.wait()
        raise EngineError("the engine failed")
    assert admission.status()[0].active == 0 and _requests(metrics, "error") == 1


def test_a_run_left_without_an_outcome_counts_as_cancelled(tmp_path: Path) -> None:
    door, admission, metrics = _door()
    with pytest.raises(KeyboardInterrupt), AdmittedRun(door.enter(scripted_config(tmp_path), ["alpha"],
                                                                   endpoint="http_test", label="m")) as run:
        run.wait()
        raise KeyboardInterrupt
    assert admission.status()[0].active == 0 and _requests(metrics, "cancelled") == 1


def test_the_open_door_admits_at_once_and_counts_nothing(tmp_path: Path) -> None:
    assert doorway(None) is OPEN_DOOR and not OPEN_DOOR.is_gated
    with pytest.raises(LiveMindError), AdmittedRun(OPEN_DOOR.enter(scripted_config(tmp_path), [], endpoint="x",
                                                                    label="x")) as run:
        run.wait()
        run.token()
        raise LiveMindError("failed")  # nothing to record, and nothing left held


def test_lanes_take_one_request_per_local_model_unless_the_scheduler_batches(tmp_path: Path) -> None:
    config = scripted_config(tmp_path)
    assert lane_concurrency(config, batches=False) == {"smollm2-135m": 1}
    assert lane_concurrency(config, batches=True) == {"smollm2-135m": config.experts[0].engine.n_seq_max}
