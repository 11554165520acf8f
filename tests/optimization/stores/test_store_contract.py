"""The shared store contract, run on the in-memory store and on ArangoDB (fake and real)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from optimization.stores.arango import ArangoConfigStore
from optimization.stores.memory import InMemoryConfigStore
from tests.optimization.stores.fake_arango import FakeArango
from tests.store_contract import StoreContract


class TestInMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> InMemoryConfigStore:
        return InMemoryConfigStore()


class TestArangoStoreOnTheFakeServer(StoreContract):
    @pytest.fixture
    def store(self) -> ArangoConfigStore:
        server = FakeArango(password="pw")
        server.create_database("es", ["aiconfigs"])
        return ArangoConfigStore.connect(
            url="http://arango.invalid:8529",
            database="es",
            username="root",
            password="pw",
            http_client=server.client(),
        )


@pytest.mark.skipif(
    not os.environ.get("ARANGO_URL"),
    reason="ARANGO_URL is not set: no real ArangoDB to test against (docker compose up arangodb)",
)
class TestArangoStoreOnARealServer(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[ArangoConfigStore]:
        from arango.client import ArangoClient

        url = os.environ["ARANGO_URL"]
        username = os.environ.get("ARANGO_USERNAME", "root")
        password = os.environ.get("ARANGO_PASSWORD", "")
        client = ArangoClient(hosts=url)
        system = client.db("_system", username=username, password=password)
        name = f"llmopt_test_{uuid.uuid4().hex[:12]}"
        system.create_database(name)
        try:
            client.db(name, username=username, password=password).create_collection("aiconfigs")
            yield ArangoConfigStore.connect(
                url=url, database=name, username=username, password=password
            )
        finally:
            system.delete_database(name)
