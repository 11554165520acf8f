"""ArangoDB specifics of the config store: `_rev` preconditions on the wire and clear errors."""

from __future__ import annotations

import socket

import pytest
from arango.client import ArangoClient
from arango.exceptions import DocumentRevisionError

from optimization.stores.arango import ArangoConfigStore
from optimization.stores.base import RevisionConflict, StoreError
from tests.optimization.stores.fake_arango import FakeArango


@pytest.fixture
def server() -> FakeArango:
    fake = FakeArango(password="pw")
    fake.create_database("es", ["aiconfigs"])
    return fake


def connect(server: FakeArango, *, password: str = "pw", database: str = "es") -> ArangoConfigStore:
    return ArangoConfigStore.connect(
        url="http://arango.invalid:8529",
        database=database,
        username="root",
        password=password,
        http_client=server.client(),
    )


def test_the_fake_answers_a_stale_rev_like_arangodb_with_412_and_error_1200(
    server: FakeArango,
) -> None:
    db = ArangoClient(hosts="http://arango.invalid:8529", http_client=server.client()).db(
        "es", username="root", password="pw"
    )
    collection = db.collection("aiconfigs")
    meta = collection.insert({"_key": "doc", "n": 1})

    with pytest.raises(DocumentRevisionError) as by_body:
        collection.replace({"_key": "doc", "_rev": "_stale", "n": 2}, check_rev=True)
    with pytest.raises(DocumentRevisionError) as by_header:
        collection.get("doc", rev="_stale")

    for caught in (by_body, by_header):
        assert caught.value.http_code == 412
        assert caught.value.error_code == 1200
    assert collection.get("doc")["_rev"] == meta["_rev"]
    # Without a revision check the replace goes through, as on ArangoDB.
    collection.replace({"_key": "doc", "_rev": "_stale", "n": 3}, check_rev=False)
    assert collection.get("doc")["n"] == 3


def test_every_write_carries_the_revision_it_read(server: FakeArango) -> None:
    store = connect(server)
    first = store.write("doc", {"n": 1}, expected_revision=None)
    second = store.write("doc", {"n": 2}, expected_revision=first.revision)

    with pytest.raises(RevisionConflict) as caught:
        store.write("doc", {"n": 3}, expected_revision=first.revision)

    assert caught.value.current.revision == second.revision
    assert server.documents("es", "aiconfigs")["doc"]["n"] == 2
    assert server.documents("es", "aiconfigs")["doc"]["_rev"] == second.revision


def test_system_attributes_stay_out_of_the_body_and_cannot_be_smuggled_in(
    server: FakeArango,
) -> None:
    store = connect(server)
    created = store.write(
        "doc", {"_key": "other", "_rev": "_forged", "_id": "x/y", "llm": []}, expected_revision=None
    )

    assert created.key == "doc"
    assert created.body == {"llm": []}
    assert store.read("doc").body == {"llm": []}
    assert list(server.documents("es", "aiconfigs")) == ["doc"]


def test_a_missing_collection_is_reported_and_never_created(server: FakeArango) -> None:
    server.create_database("empty")
    store = connect(server, database="empty")

    for attempt in (
        lambda: store.read("doc"),
        lambda: store.write("doc", {"llm": []}, expected_revision=None),
        lambda: store.write("doc", {"llm": []}, expected_revision="_rev"),
        store.list,
    ):
        with pytest.raises(StoreError, match=r"'aiconfigs'.*does not exist"):
            attempt()

    assert server.databases["empty"] == {}


def test_a_wrong_password_is_a_clear_error(server: FakeArango) -> None:
    store = connect(server, password="wrong")

    with pytest.raises(StoreError, match="HTTP 401") as caught:
        store.read("doc")

    assert "wrong" not in str(caught.value)


def test_an_unknown_database_is_a_clear_error(server: FakeArango) -> None:
    with pytest.raises(StoreError, match="database not found"):
        connect(server, database="nope").list()


def test_an_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        store = ArangoConfigStore.connect(
            url=f"http://127.0.0.1:{port}",
            database="es",
            username="root",
            password="",
            request_timeout=2,
        )

        with pytest.raises(StoreError, match=rf"cannot read .doc. from .*127\.0\.0\.1:{port}"):
            store.read("doc")
