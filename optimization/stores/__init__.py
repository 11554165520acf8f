"""Where the `aiconfigs` documents live: one protocol, several stores.

`ArangoConfigStore` lives in `optimization.stores.arango` and is imported from there, so this
package does not need python-arango unless that store is used.
"""

from __future__ import annotations

from optimization.stores.base import (
    AI_MODELS_KEY,
    ConfigStore,
    DocumentNotFound,
    RevisionConflict,
    StoredDocument,
    StoreError,
)
from optimization.stores.memory import InMemoryConfigStore

__all__ = [
    "AI_MODELS_KEY",
    "ConfigStore",
    "DocumentNotFound",
    "InMemoryConfigStore",
    "RevisionConflict",
    "StoreError",
    "StoredDocument",
]
