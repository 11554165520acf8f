"""The config store contract, written once and run against every store.

A store's test module subclasses `StoreContract` (the subclass name must start with `Test`) and
provides a `store` fixture returning an empty store. Stores whose writers need per-thread
set-up or tear-down (a Django database connection) override `finish_thread`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from optimization.stores.base import (
    AI_MODELS_KEY,
    ConfigStore,
    DocumentNotFound,
    RevisionConflict,
    StoredDocument,
    StoreError,
)

SAMPLE: dict[str, Any] = {
    "llm": [
        {
            "provider": "anthropic",
            "isDefault": True,
            "configuration": {"model": "claude-sonnet-4-5", "apiKey": "sk-ant-secret"},
        }
    ],
    "embedding": [{"provider": "openAI", "configuration": {"model": "text-embedding-3-small"}}],
    "customField": {"nested": [1, 2.5, None, True, "ünïcødé ✓"]},
}


class StoreContract:
    """Behaviour every ConfigStore must have. Subclasses provide the `store` fixture."""

    concurrent_writers = 4
    increments_per_writer = 5

    def finish_thread(self) -> None:
        """Called at the end of each writer thread (close per-thread resources)."""

    def test_it_satisfies_the_config_store_protocol(self, store: ConfigStore) -> None:
        assert isinstance(store, ConfigStore)
        assert isinstance(store.name, str)
        assert store.name

    def test_it_reads_back_what_it_created(self, store: ConfigStore) -> None:
        created = store.write(AI_MODELS_KEY, SAMPLE, expected_revision=None)
        assert created.key == AI_MODELS_KEY
        assert created.revision
        assert created.body == SAMPLE

        read = store.read(AI_MODELS_KEY)
        assert read == StoredDocument(AI_MODELS_KEY, created.revision, SAMPLE)
        assert store.read() == read  # the default key is the AI models document

    def test_it_says_which_document_is_missing(self, store: ConfigStore) -> None:
        with pytest.raises(DocumentNotFound) as caught:
            store.read("no_such_document")
        assert caught.value.key == "no_such_document"
        assert "no_such_document" in str(caught.value)

    def test_it_refuses_to_create_a_document_that_already_exists(self, store: ConfigStore) -> None:
        first = store.write("doc", {"llm": []}, expected_revision=None)

        with pytest.raises(RevisionConflict) as caught:
            store.write("doc", {"llm": [{"provider": "openAI"}]}, expected_revision=None)

        assert caught.value.current == first
        assert store.read("doc") == first

    def test_it_writes_when_the_revision_is_current_and_issues_a_new_one(
        self, store: ConfigStore
    ) -> None:
        first = store.write("doc", {"llm": []}, expected_revision=None)

        second = store.write(
            "doc", {"llm": [{"provider": "openAI"}]}, expected_revision=first.revision
        )

        assert second.revision != first.revision
        assert second.body == {"llm": [{"provider": "openAI"}]}
        assert store.read("doc") == second

    def test_it_refuses_a_stale_revision_and_reports_what_is_stored_now(
        self, store: ConfigStore
    ) -> None:
        opened = store.write("doc", {"llm": [], "n": 0}, expected_revision=None)
        winner = store.write("doc", {"llm": [], "n": 1}, expected_revision=opened.revision)

        with pytest.raises(RevisionConflict) as caught:
            store.write("doc", {"llm": [], "n": 2}, expected_revision=opened.revision)

        conflict = caught.value
        assert conflict.key == "doc"
        assert conflict.expected_revision == opened.revision
        assert conflict.current == winner
        assert "changed since you opened it" in str(conflict)
        assert store.read("doc") == winner

    def test_it_refuses_a_revision_it_never_issued(self, store: ConfigStore) -> None:
        stored = store.write("doc", {"llm": []}, expected_revision=None)

        with pytest.raises(RevisionConflict):
            store.write("doc", {"llm": [1]}, expected_revision="not-a-revision")

        assert store.read("doc") == stored

    def test_it_refuses_to_update_a_document_that_does_not_exist(self, store: ConfigStore) -> None:
        other = store.write("other", {"llm": []}, expected_revision=None)

        with pytest.raises(DocumentNotFound):
            store.write("missing", {"llm": []}, expected_revision=other.revision)

        assert [doc.key for doc in store.list()] == ["other"]

    def test_a_documents_revisions_are_never_reused(self, store: ConfigStore) -> None:
        revisions = [store.write("a", {"n": 0}, expected_revision=None).revision]
        for n in range(1, 5):
            revisions.append(store.write("a", {"n": n}, expected_revision=revisions[-1]).revision)
            store.write(f"other{n}", {"n": n}, expected_revision=None)

        assert len(set(revisions)) == len(revisions)
        for stale in revisions[:-1]:
            with pytest.raises(RevisionConflict):
                store.write("a", {"n": -1}, expected_revision=stale)

    def test_it_lists_every_document_in_key_order(self, store: ConfigStore) -> None:
        assert store.list() == []
        for key in ["zeta", "alpha", "mid"]:
            store.write(key, {"name": key}, expected_revision=None)

        listed = store.list()

        assert [doc.key for doc in listed] == ["alpha", "mid", "zeta"]
        assert [doc.body for doc in listed] == [
            {"name": "alpha"},
            {"name": "mid"},
            {"name": "zeta"},
        ]
        assert all(doc == store.read(doc.key) for doc in listed)

    def test_it_lists_more_documents_than_fit_in_one_batch(self, store: ConfigStore) -> None:
        keys = [f"doc{n:04d}" for n in range(230)]
        for key in reversed(keys):
            store.write(key, {"k": key}, expected_revision=None)

        assert [doc.key for doc in store.list()] == keys

    def test_changing_a_returned_body_does_not_change_the_store(self, store: ConfigStore) -> None:
        body = {"llm": [{"configuration": {"model": "m"}}]}
        written = store.write("doc", body, expected_revision=None)
        body["llm"][0]["configuration"]["model"] = "changed by the caller"
        written.body["llm"][0]["configuration"]["model"] = "changed too"
        store.read("doc").body["llm"].append("and this")

        assert store.read("doc").body == {"llm": [{"configuration": {"model": "m"}}]}
        assert store.list()[0].body == {"llm": [{"configuration": {"model": "m"}}]}

    def test_it_refuses_a_body_that_is_not_a_json_object(self, store: ConfigStore) -> None:
        with pytest.raises(StoreError):
            store.write("doc", ["not", "an", "object"], expected_revision=None)  # type: ignore[arg-type]

        with pytest.raises(DocumentNotFound):
            store.read("doc")

    def test_of_two_writers_from_the_same_revision_exactly_one_wins(
        self, store: ConfigStore
    ) -> None:
        opened = store.write("doc", {"owner": None}, expected_revision=None)
        outcomes: dict[str, str] = {}
        barrier = threading.Barrier(2)

        def save(name: str) -> None:
            try:
                barrier.wait(timeout=10)
                store.write("doc", {"owner": name}, expected_revision=opened.revision)
                outcomes[name] = "won"
            except RevisionConflict:
                outcomes[name] = "conflict"
            finally:
                self.finish_thread()

        self._run_threads([lambda: save("alice"), lambda: save("bob")])

        assert sorted(outcomes.values()) == ["conflict", "won"]
        winner = next(name for name, outcome in outcomes.items() if outcome == "won")
        assert store.read("doc").body == {"owner": winner}

    def test_concurrent_read_modify_write_loses_no_update(self, store: ConfigStore) -> None:
        store.write("counter", {"count": 0}, expected_revision=None)

        def increment() -> None:
            try:
                for _ in range(self.increments_per_writer):
                    while True:
                        current = store.read("counter")
                        try:
                            store.write(
                                "counter",
                                {"count": current.body["count"] + 1},
                                expected_revision=current.revision,
                            )
                            break
                        except RevisionConflict:
                            continue  # someone else won: re-read and re-apply
            finally:
                self.finish_thread()

        self._run_threads([increment] * self.concurrent_writers)

        expected = self.concurrent_writers * self.increments_per_writer
        assert store.read("counter").body == {"count": expected}

    @staticmethod
    def _run_threads(targets: list[Callable[[], None]]) -> None:
        errors: list[BaseException] = []

        def guarded(target: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    target()
                except BaseException as exc:  # surfaced below, in the test's thread
                    errors.append(exc)

            return run

        threads = [threading.Thread(target=guarded(t)) for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a writer thread hung"
        if errors:
            raise errors[0]
