"""Micro-batcher and model swap: a request in flight finishes on the model it started with."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from mmp.serving.batcher import InFlight, MicroBatcher
from mmp.serving.schema import example_record
from mmp.serving.scorer import ServedModel, score_rows, serve_model


def _two_versions(loaded: Any) -> tuple[ServedModel, ServedModel]:
    v1 = serve_model(loaded)
    v2 = serve_model(dataclasses.replace(loaded, identity=dataclasses.replace(loaded.identity, version="2")))
    return v1, v2


def test_a_swap_during_a_call_does_not_change_the_answering_model(loaded_models: dict[str, Any]) -> None:
    loaded = loaded_models["diabetes"]
    v1, v2 = _two_versions(loaded)
    row = example_record(loaded.contract, loaded.input_example)
    current = {"model": v1}
    in_call, release = threading.Event(), threading.Event()

    def score(model: ServedModel, rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
        in_call.set()
        assert release.wait(30)
        return score_rows(model, rows)

    async def scenario() -> tuple[ServedModel, ServedModel]:
        batcher = MicroBatcher(lambda: current["model"], score, max_size=32, max_wait_s=0)
        batcher.start()
        try:
            in_flight = asyncio.create_task(batcher.submit(row))
            assert await asyncio.to_thread(in_call.wait, 30)
            current["model"] = v2  # the hot reload's one assignment, while the pipeline runs
            release.set()
            _, answered_first = await in_flight
            _, answered_next = await batcher.submit(row)
            return answered_first, answered_next
        finally:
            await batcher.stop()

    first, following = asyncio.run(scenario())
    assert first is v1
    assert following is v2


def test_concurrent_submissions_share_pipeline_calls(loaded_models: dict[str, Any]) -> None:
    loaded = loaded_models["diabetes"]
    model = serve_model(loaded)
    row = example_record(loaded.contract, loaded.input_example)
    calls: list[int] = []

    def score(served: ServedModel, rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
        calls.append(len(rows))
        return score_rows(served, rows)

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(lambda: model, score, max_size=8, max_wait_s=0.005)
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(row) for _ in range(40)))
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert len(results) == 40
    assert len({r[0]["prediction"] for r in results}) == 1
    assert sum(calls) == 40
    assert max(calls) == 8  # never more than max_size per call
    assert len(calls) < 40


Scenario = Callable[[MicroBatcher, InFlight, dict[str, Any]], Awaitable[None]]


def _calls_in(loaded_models: dict[str, Any], max_wait_s: float, scenario: Scenario) -> list[int]:
    """Run `scenario(batcher, in_flight, row)` against a started batcher; the size of each call."""
    loaded = loaded_models["diabetes"]
    model = serve_model(loaded)
    row = example_record(loaded.contract, loaded.input_example)
    calls: list[int] = []
    in_flight = InFlight()

    def score(served: ServedModel, rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
        calls.append(len(rows))
        return score_rows(served, rows)

    async def run() -> None:
        batcher = MicroBatcher(lambda: model, score, 32, max_wait_s=max_wait_s, in_flight=in_flight)
        batcher.start()
        try:
            await scenario(batcher, in_flight, row)
        finally:
            await batcher.stop()

    asyncio.run(run())
    assert in_flight.count == 0
    return calls


async def _request(batcher: MicroBatcher, in_flight: InFlight, row: dict[str, Any]) -> Any:
    """One /predict request as the middleware counts it: in at entry, out once answered."""
    in_flight.enter()
    try:
        return await batcher.submit(row)
    finally:
        in_flight.leave()


def test_a_request_still_being_read_joins_the_call(loaded_models: dict[str, Any]) -> None:
    """The server holds B (entered, still being validated) when A is queued: the call waits for B,
    so both share one call."""

    async def scenario(batcher: MicroBatcher, in_flight: InFlight, row: dict[str, Any]) -> None:
        in_flight.enter()  # B
        first = asyncio.create_task(_request(batcher, in_flight, row))
        await asyncio.sleep(0.05)  # A waits in the queue for B
        assert not first.done()
        await asyncio.wait_for(asyncio.gather(first, batcher.submit(row)), 30)  # B, validated
        in_flight.leave()

    assert _calls_in(loaded_models, 30, scenario) == [2]


def test_a_request_that_leaves_without_a_record_ends_the_wait(loaded_models: dict[str, Any]) -> None:
    """B is refused (a 422): its exit wakes the batcher, so A is scored at once, not after max_wait."""

    async def scenario(batcher: MicroBatcher, in_flight: InFlight, row: dict[str, Any]) -> None:
        in_flight.enter()  # B
        first = asyncio.create_task(_request(batcher, in_flight, row))
        await asyncio.sleep(0.05)
        assert not first.done()
        in_flight.leave()  # B answered 422
        await asyncio.wait_for(first, 30)

    assert _calls_in(loaded_models, 60, scenario) == [1]


def test_the_batcher_never_waits_for_requests_it_has_not_received(loaded_models: dict[str, Any]) -> None:
    """After a grouped call, a lone request is scored at once even with a long max_wait: waiting
    for clients that might send again left each worker of a multi-worker server idle."""

    async def scenario(batcher: MicroBatcher, in_flight: InFlight, row: dict[str, Any]) -> None:
        await asyncio.wait_for(asyncio.gather(*(_request(batcher, in_flight, row) for _ in range(4))), 30)
        for _ in range(3):  # one client at a time, right after a grouped call
            await asyncio.wait_for(_request(batcher, in_flight, row), 30)

    calls = _calls_in(loaded_models, 60, scenario)
    assert calls[0] > 1
    assert calls[-3:] == [1, 1, 1]
