"""Batch state stores: what a restarted process needs to resume instead of resubmitting."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimization.batch_state import FileBatchStateStore, InMemoryBatchStateStore


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    if request.param == "memory":
        return InMemoryBatchStateStore()
    return FileBatchStateStore(tmp_path / "batches")


def test_it_returns_a_saved_batch_with_its_custom_id_map(store: object) -> None:
    store.save("msgbatch_1", {"r0": 0, "r1": 1}, {"model": "m"})  # type: ignore[attr-defined]
    record = store.load("msgbatch_1")  # type: ignore[attr-defined]
    assert record.custom_ids == {"r0": 0, "r1": 1}
    assert record.meta == {"model": "m"}
    assert not record.done


def test_it_lists_only_batches_not_yet_collected(store: object) -> None:
    store.save("a", {"r0": 0}, {})  # type: ignore[attr-defined]
    store.save("b", {"r0": 0}, {})  # type: ignore[attr-defined]
    store.mark_done("a")  # type: ignore[attr-defined]
    assert [r.batch_id for r in store.list_open()] == ["b"]  # type: ignore[attr-defined]
    assert store.load("a").done  # type: ignore[attr-defined]


def test_unknown_batches_load_as_none_and_marking_them_is_harmless(store: object) -> None:
    assert store.load("nope") is None  # type: ignore[attr-defined]
    store.mark_done("nope")  # type: ignore[attr-defined]


def test_the_file_store_survives_a_new_instance(tmp_path: Path) -> None:
    FileBatchStateStore(tmp_path).save("msgbatch_x", {"r5": 5}, {"k": 1})
    record = FileBatchStateStore(tmp_path).load("msgbatch_x")
    assert record is not None
    assert record.custom_ids == {"r5": 5}
    assert list(tmp_path.glob("*.tmp")) == []
