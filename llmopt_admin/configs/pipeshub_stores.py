"""The `pipeshub-redis` and `pipeshub-etcd` config stores, built from PipesHub's own variables.

settings.PIPESHUB_* hold what PipesHub's services read from the environment (SECRET_KEY,
KV_STORE_TYPE, REDIS_*, ETCD_*); see optimization.stores.pipeshub_kv for the format.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from optimization.stores.base import ConfigStore


def _secret_key(store: str) -> str:
    secret: str = settings.PIPESHUB_SECRET_KEY
    if not secret:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set: the {store} store needs PipesHub's SECRET_KEY (the same value "
            "as in PipesHub's environment) to decrypt /services/aiModels"
        )
    return secret


def _check_kv_store_type(store: str, kind: str) -> None:
    """PipesHub uses Redis when KV_STORE_TYPE is redis and etcd otherwise: the two must agree."""
    uses_redis = settings.PIPESHUB_KV_STORE_TYPE == "redis"
    if uses_redis != (kind == "redis"):
        raise ImproperlyConfigured(
            f"LLMOPT_CONFIG_STORE={store} but KV_STORE_TYPE={settings.PIPESHUB_KV_STORE_TYPE!r}: "
            f"PipesHub reads its config from {'Redis' if uses_redis else 'etcd'}, so edits there "
            f"would not reach it. Set KV_STORE_TYPE to PipesHub's value, or choose "
            f"pipeshub-{'redis' if uses_redis else 'etcd'}"
        )


def pipeshub_redis_store() -> ConfigStore:
    """/services/aiModels in PipesHub's Redis (REDIS_HOST, REDIS_PORT, REDIS_DB, ...)."""
    from optimization.stores.pipeshub_kv import PipesHubKVStore

    _check_kv_store_type("pipeshub-redis", "redis")
    return PipesHubKVStore.redis(
        secret_key=_secret_key("pipeshub-redis"),
        host=settings.PIPESHUB_REDIS_HOST,
        port=settings.PIPESHUB_REDIS_PORT,
        db=settings.PIPESHUB_REDIS_DB,
        username=settings.PIPESHUB_REDIS_USERNAME or None,
        password=settings.PIPESHUB_REDIS_PASSWORD or None,
        tls=settings.PIPESHUB_REDIS_TLS,
        key_prefix=settings.PIPESHUB_REDIS_KV_PREFIX,
        timeout=settings.PIPESHUB_REDIS_TIMEOUT,
    )


def pipeshub_etcd_store() -> ConfigStore:
    """/services/aiModels in PipesHub's etcd3 (ETCD_URL, or ETCD_HOST and ETCD_PORT)."""
    from optimization.stores.pipeshub_kv import PipesHubKVStore

    _check_kv_store_type("pipeshub-etcd", "etcd")
    return PipesHubKVStore.etcd(
        secret_key=_secret_key("pipeshub-etcd"),
        url=settings.PIPESHUB_ETCD_URL,
        username=settings.PIPESHUB_ETCD_USERNAME or None,
        password=settings.PIPESHUB_ETCD_PASSWORD or None,
        timeout=settings.PIPESHUB_ETCD_TIMEOUT,
    )
