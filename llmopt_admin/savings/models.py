"""The usage ledger (one row per LLM call) and its hourly and daily rollups.

Every cost column is USD as an exact Decimal. Each event also stores how its saving splits by
mechanism, so rollups (and `rebuild_rollups`) are plain sums and always add up to the raw rows:

    baseline_cost - cost == cache_read_saved - cache_write_premium + batch_discount + unattributed

where `unattributed` is only non-zero for events whose cost was reported by the caller for a model
our price table does not know (we cannot split what we did not price).
`cache_write_premium` also holds the explicit context cache storage an event bought
(`cache_storage_token_hours`, priced at the model's storage rate): like the write premium, a cost
of caching that the baseline does not have.
"""

from __future__ import annotations

from django.db import models

from llmopt_admin.token_columns import token_columns
from optimization.pricing import TOKEN_FIELDS
from optimization.telemetry import MODES

MODE_CHOICES = [(mode, mode) for mode in MODES]

# Costs per event are tiny (a cache-read token can cost 4e-8 USD), so keep 10 decimal places.
COST_PLACES = 10


def _money(*, total: bool = False, help_text: str = "") -> models.DecimalField:
    return models.DecimalField(
        max_digits=28 if total else 20,
        decimal_places=COST_PLACES,
        default=0,
        help_text=help_text,
    )


class CostSource(models.TextChoices):
    PRICE_TABLE = "price_table", "computed from the price table valid at the event's time"
    REPORTED = "reported", "reported by the caller (model not in the price table)"


class LedgerEvent(models.Model):
    """What one LLM call used and cost. `request_id` makes ingest idempotent."""

    # Unique by a named constraint, not `unique=True`: that would add a second, pattern-ops
    # index on PostgreSQL, maintained on every insert and never used.
    request_id = models.CharField(max_length=200)
    timestamp = models.DateTimeField()
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=128)
    mode = models.CharField(max_length=16, choices=MODE_CHOICES)
    config_entry = models.CharField(max_length=200, blank=True, default="")
    batch_id = models.CharField(max_length=200, blank=True, default="")

    # The token columns, in their place (field order is creation order); input is uncached.
    locals().update(token_columns(models.PositiveBigIntegerField))
    cacheable_input_tokens = models.PositiveBigIntegerField(
        default=0,
        help_text="Input that could have been read from the cache: the hit rate's denominator "
        "(see costing.cacheable_input).",
    )

    cost = _money()
    baseline_cost = _money()
    cache_read_saved = _money()
    cache_write_premium = _money(
        help_text="Cache writes above the plain input price, plus explicit cache storage."
    )
    batch_discount = _money()
    cache_storage_token_hours = models.DecimalField(
        max_digits=20,
        decimal_places=6,
        default=0,
        help_text="Explicit context cache storage bought (cached tokens x hours): priced into "
        "cost and cache_write_premium (optimization.telemetry).",
    )
    cost_source = models.CharField(
        max_length=16, choices=CostSource.choices, default=CostSource.PRICE_TABLE
    )
    reported_cost = models.DecimalField(
        max_digits=20,
        decimal_places=COST_PLACES,
        null=True,
        blank=True,
        help_text="The cost the caller sent, kept when it differs from the price table's.",
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request_id"], name="savings_event_request_id"),
        ]
        # Every index costs each ingested row; the dashboard reads rollups, so the ledger keeps
        # only what exports (period) and batch lookups (batch rows only) need.
        indexes = [
            models.Index(fields=["timestamp"], name="savings_event_ts"),
            models.Index(
                fields=["batch_id"], name="savings_event_batch", condition=~models.Q(batch_id="")
            ),
        ]
        ordering = ["-timestamp"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.provider}/{self.model} {self.mode}"

    @property
    def cost_mismatch(self) -> bool:
        """True when the caller's cost disagreed with the price table's."""
        return self.reported_cost is not None and self.reported_cost != self.cost


class RollupSums(models.Model):
    """The sums a rollup row keeps for one time bucket, provider, model and mode."""

    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=128)
    mode = models.CharField(max_length=16, choices=MODE_CHOICES)

    events = models.BigIntegerField(default=0)
    locals().update(token_columns(models.BigIntegerField))
    cacheable_input_tokens = models.BigIntegerField(default=0)

    cost = _money(total=True)
    baseline_cost = _money(total=True)
    cache_read_saved = _money(total=True)
    cache_write_premium = _money(total=True)
    batch_discount = _money(total=True)

    class Meta:
        abstract = True


class HourlyRollup(RollupSums):
    """Sums of the ledger per UTC hour, provider, model and mode; the dashboard reads only
    rollups (these for the hours at the ends of a period, DailyRollup for its whole days)."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "provider", "model", "mode"], name="savings_rollup_key"
            )
        ]
        indexes = [
            models.Index(fields=["provider", "model", "hour"], name="savings_rollup_pm_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.provider}/{self.model} {self.mode}"


class DailyRollup(RollupSums):
    """Sums of the ledger per UTC day, provider, model and mode (24x fewer rows than hourly)."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "provider", "model", "mode"], name="savings_daily_key"
            )
        ]
        indexes = [
            models.Index(fields=["provider", "model", "day"], name="savings_daily_pm_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.provider}/{self.model} {self.mode}"


# Columns summed from events into rollups, in one place for the service, the rebuild and selectors.
MONEY_FIELDS = (
    "cost",
    "baseline_cost",
    "cache_read_saved",
    "cache_write_premium",
    "batch_discount",
)
SUM_FIELDS = (*TOKEN_FIELDS, "cacheable_input_tokens", *MONEY_FIELDS)
# What a rollup row is keyed by, besides its time bucket (`hour` or `day`).
ROLLUP_KEY = ("provider", "model", "mode")
# Every column of a ledger row but its id, in the order the ingest writes them (see pipeline.py).
LEDGER_COLUMNS = (
    "request_id",
    "timestamp",
    "provider",
    "model",
    "mode",
    "config_entry",
    "batch_id",
    *SUM_FIELDS,
    "cache_storage_token_hours",
    "cost_source",
    "reported_cost",
    "received_at",
)
