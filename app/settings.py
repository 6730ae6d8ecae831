"""Typed settings: embedded defaults, an optional file, then environment overrides."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from app.errors import ConfigError

__all__ = [
    "ConfiguredKey",
    "ConsoleSettings",
    "ControlBusSettings",
    "DEFAULTS_RESOURCE",
    "GatewaySettings",
    "InstrumentConstraint",
    "OutboxSettings",
    "RelaySettings",
    "RestrictedSettings",
    "RestrictedSymbols",
    "RiskSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SharedAccountPolicy",
    "StoreSettings",
    "VenuePolicy",
    "WorldServiceServerSettings",
    "WorldServiceSettings",
    "duration_seconds",
    "load_settings",
    "merge_tables",
    "read_defaults",
    "redact_url",
]

DEFAULTS_RESOURCE = "default.toml"
"""The embedded defaults: a data file of the ``app`` package (shipped inside the wheel).
``config/default.toml`` in the repository is a byte-identical copy that the docs show."""
ENV_PREFIX = "WORLDGATE__"
CONFIG_ENV = "WORLDGATE_CONFIG"

Role = Literal["worldservice", "gateway"]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every settings section: unknown keys are an error."""


class ServerSettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[server]``: where the HTTP server listens and which services it hosts."""

    host: str = "127.0.0.1"
    port: Port = 8000
    roles: list[Role] = msgspec.field(default_factory=lambda: ["worldservice", "gateway"])
    max_body_bytes: Annotated[int, msgspec.Meta(gt=0)] = 64 * 1024 * 1024
    max_positions: Annotated[int, msgspec.Meta(gt=0)] = 2_000_000
    shutdown_timeout: PositiveFloat = 10.0
    header_timeout: PositiveFloat = 10.0
    body_timeout: PositiveFloat = 30.0
    keep_alive_timeout: PositiveFloat = 5.0
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 1000
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class WorldServiceServerSettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[worldservice.server]``: schema v2 and v3 rollout switches."""

    compat_rebalance_v2: bool = False
    alpha_metrics_required: bool = False
    compat_rebalance_v3: bool = False


_DURATION_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
Duration = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]+)?(ms|s|m|h|d)$")]
"""A duration as QMTL writes it: a number and a unit (``"300s"``, ``"5m"``, ``"1.5h"``)."""


def duration_seconds(text: str) -> float:
    """Return the seconds of a ``Duration`` string (``"300s"`` → 300.0)."""
    unit = "ms" if text.endswith("ms") else text[-1]
    return float(text[: -len(unit)]) * _DURATION_UNITS[unit]


class WorldServiceSettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[worldservice]``: WorldService behaviour.

    ``allocation_ttl`` is how long a stored allocation is fresh: snapshots show it as
    ``ttl`` and are ``stale`` once older. ``allocation_ttl_seconds`` is its older,
    deprecated spelling in seconds; when set it wins.
    """

    server: WorldServiceServerSettings = msgspec.field(default_factory=WorldServiceServerSettings)
    allocation_ttl: Duration = "300s"
    allocation_ttl_seconds: PositiveFloat | None = None

    @property
    def allocation_ttl_text(self) -> str:
        """The TTL as snapshots show it (``"300s"``)."""
        if self.allocation_ttl_seconds is not None:
            return f"{self.allocation_ttl_seconds:g}s"
        return self.allocation_ttl

    @property
    def allocation_ttl_value(self) -> float:
        """The TTL in seconds."""
        if self.allocation_ttl_seconds is not None:
            return self.allocation_ttl_seconds
        return duration_seconds(self.allocation_ttl)


class StoreSettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[store]``: where plans, allocations, executions and events are kept."""

    backend: Literal["sqlite", "postgres"] = "sqlite"
    sqlite_path: str = "var/worldgate.sqlite3"
    postgres_dsn: str = "postgresql://127.0.0.1:5432/test"
    postgres_pool_size: Annotated[int, msgspec.Meta(ge=1)] = 10
    postgres_connect_timeout: PositiveFloat = 5.0
    postgres_statement_timeout: PositiveFloat = 10.0
    event_retention_count: Annotated[int, msgspec.Meta(ge=1)] = 100_000
    event_retention_seconds: PositiveFloat = 7 * 86_400.0
    single_owner: bool = False


class ControlBusSettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[controlbus]``: how events travel between components."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream_prefix: str = "worldgate"
    stream_maxlen: Annotated[int, msgspec.Meta(ge=1)] = 100_000
    subscriber_buffer: Annotated[int, msgspec.Meta(ge=1)] = 10_000


class OutboxSettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[outbox]``: the background publisher that moves stored events to the bus."""

    poll_interval: PositiveFloat = 0.05
    batch_size: Annotated[int, msgspec.Meta(ge=1)] = 500
    lease_seconds: PositiveFloat = 10.0


class SharedAccountPolicy(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[gateway.shared_account_policy]``: limits for cross-world netted execution."""

    enabled: bool = False
    max_gross_notional: NonNegFloat | None = None
    max_net_notional: NonNegFloat | None = None
    min_margin_headroom: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None


class VenuePolicy(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[[gateway.venue_policies]]``: order flags a venue supports."""

    venue: str
    supports_reduce_only: bool = True
    reduce_only_requires_ioc: bool = False
    default_time_in_force: Literal["GTC", "IOC", "FOK", "DAY"] = "GTC"


class InstrumentConstraint(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[[gateway.instrument_constraints]]``: lot, notional and tick rules for symbols."""

    venue: str = "*"
    symbol: str = "*"
    canonical_symbol: str | None = None
    aliases: list[str] = msgspec.field(default_factory=list)
    lot_size: PositiveFloat | None = None
    min_notional: NonNegFloat | None = None
    tick_size: PositiveFloat | None = None


class RelaySettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[gateway.relay]``: the ControlBus → WebSocket relay."""

    client_buffer: Annotated[int, msgspec.Meta(ge=1)] = 1_000
    client_buffer_bytes: Annotated[int, msgspec.Meta(ge=1)] = 16 * 1024 * 1024
    poll_interval: PositiveFloat = 1.0
    log_batch: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 500
    max_message_bytes: Annotated[int, msgspec.Meta(gt=0)] = 64 * 1024
    max_messages_per_second: PositiveFloat = 50.0
    replay_limit: Annotated[int, msgspec.Meta(ge=1)] = 10_000


class RestrictedSymbols(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Symbols that may not be bought or sold (canonical symbols, as orders carry them)."""

    do_not_buy: list[str] = msgspec.field(default_factory=list)
    do_not_sell: list[str] = msgspec.field(default_factory=list)


class RestrictedSettings(RestrictedSymbols, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[gateway.risk.restricted]``: global lists plus per-world ones (``by_world``)."""

    by_world: dict[str, RestrictedSymbols] = msgspec.field(default_factory=dict)


class RiskSettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[gateway.risk]``: pre-trade limits and the preview lifetime (unset = no limit)."""

    max_order_notional: NonNegFloat | None = None
    max_world_gross_notional: NonNegFloat | None = None
    max_orders_per_execution: Annotated[int, msgspec.Meta(ge=0)] | None = None
    order_rate_per_minute: PositiveFloat | None = None
    preview_ttl_seconds: PositiveFloat = 300.0
    restricted: RestrictedSettings = msgspec.field(default_factory=RestrictedSettings)


class GatewaySettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[gateway]``: capability bits, WorldService client and execution rules."""

    rebalance_schema_version: Annotated[int, msgspec.Meta(ge=1, le=3)] = 1
    alpha_metrics_capable: bool = False
    compute_context_contract: str | None = None
    enforce_live_guard: bool = True
    worldservice_url: str | None = None
    worldservice_api_key: str | None = None
    worldservice_timeout: PositiveFloat = 10.0
    worldservice_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    health_cache_seconds: NonNegFloat = 1.0
    probe_timeout: PositiveFloat = 0.5
    flip_policy: Literal["flatten_then_open", "direct"] = "flatten_then_open"
    shared_account_policy: SharedAccountPolicy = msgspec.field(default_factory=SharedAccountPolicy)
    venue_policies: list[VenuePolicy] = msgspec.field(default_factory=list)
    instrument_constraints: list[InstrumentConstraint] = msgspec.field(default_factory=list)
    relay: RelaySettings = msgspec.field(default_factory=RelaySettings)
    risk: RiskSettings = msgspec.field(default_factory=RiskSettings)


KeyId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class ConfiguredKey(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One ``[[security.keys]]`` entry: an API key kept in the configuration, by the
    SHA-256 (hex) of its secret (``worldgate keys generate`` prints both)."""

    id: KeyId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    scopes: Annotated[list[str], msgspec.Meta(min_length=1)]
    secret_sha256: Sha256Hex
    expires_at: datetime | None = None
    rate_per_minute: Annotated[int, msgspec.Meta(ge=0)] | None = None


class SecuritySettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[security]``: API keys (with scopes), legacy bearer tokens, key refresh, limits."""

    api_tokens: list[str] = msgspec.field(default_factory=list)
    keys: list[ConfiguredKey] = msgspec.field(default_factory=list)
    key_refresh_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    default_rate_per_minute: Annotated[int, msgspec.Meta(ge=0)] = 0


class ConsoleSettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[console]``: the operator console at ``/console`` (served where the Gateway runs)."""

    enabled: bool = True
    # Where the console's server side calls the public API; None = the address the browser's
    # request arrived on (this very server).
    api_url: str | None = None


class Settings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration."""

    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    worldservice: WorldServiceSettings = msgspec.field(default_factory=WorldServiceSettings)
    store: StoreSettings = msgspec.field(default_factory=StoreSettings)
    controlbus: ControlBusSettings = msgspec.field(default_factory=ControlBusSettings)
    outbox: OutboxSettings = msgspec.field(default_factory=OutboxSettings)
    gateway: GatewaySettings = msgspec.field(default_factory=GatewaySettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    console: ConsoleSettings = msgspec.field(default_factory=ConsoleSettings)


def read_defaults() -> dict[str, Any]:
    """Return the embedded defaults (``app/default.toml``), read from the installed package."""
    text = resources.files("app").joinpath(DEFAULTS_RESOURCE).read_text(encoding="utf-8")
    return tomllib.loads(text)


def redact_url(url: str) -> str:
    """``url`` without its credentials: ``scheme://user:password@host`` becomes
    ``scheme://[redacted]@host`` (for anything shown or logged: ``/status``, logs)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}://[redacted]@{authority.rpartition('@')[2]}{slash}{tail}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def merge_tables(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``top`` into a copy of ``base`` (tables merge, other values replace)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out


def _env_value(raw: str) -> Any:
    """Lists and tables come as JSON; scalars stay strings and are typed on conversion."""
    stripped = raw.strip()
    if stripped.startswith(("[", "{")):
        try:
            return msgspec.json.decode(stripped)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"not valid JSON: {raw!r} ({exc})") from exc
    if stripped.lower() in ("null", "none"):
        return None
    return raw


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            raise ConfigError(f"environment variable {name}: empty section name")
        try:
            value = _env_value(raw)
        except ConfigError as exc:
            raise ConfigError(f"environment variable {name}: {exc}") from exc
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def _config_key(message: str) -> str:
    """Turn msgspec's ``$.a.b`` path in an error message into ``a.b``."""
    return message.replace("`$.", "`").replace("`$`", "`(root)`")


def _check(settings: Settings) -> Settings:
    ws = settings.worldservice.server
    if ws.alpha_metrics_required and not ws.compat_rebalance_v2:
        raise ConfigError(
            "worldservice.server.alpha_metrics_required needs "
            "worldservice.server.compat_rebalance_v2 = true"
        )
    if ws.compat_rebalance_v3 and not ws.compat_rebalance_v2:
        raise ConfigError(
            "worldservice.server.compat_rebalance_v3 needs "
            "worldservice.server.compat_rebalance_v2 = true (schema v3 is v2 plus the policy)"
        )
    if settings.worldservice.allocation_ttl_value <= 0:
        raise ConfigError("worldservice.allocation_ttl must be longer than zero")
    if not settings.server.roles:
        raise ConfigError("server.roles must name at least one of: worldservice, gateway")
    return settings


def load_settings(
    config_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load settings: embedded defaults, then a file, then environment, then ``overrides``.

    Args:
        config_path: an extra TOML file; defaults to ``$WORLDGATE_CONFIG`` when set.
        environ: the environment to read (``os.environ`` when None).
        overrides: a nested dict applied last (tests use it).

    Returns:
        The validated settings.

    Raises:
        ConfigError: a file is missing or invalid, a key is unknown or has the wrong type,
            or two switches contradict each other.
    """
    env = os.environ if environ is None else environ
    data = read_defaults()
    extra = config_path or env.get(CONFIG_ENV)
    if extra:
        data = merge_tables(data, _read_toml(Path(extra)))
    data = merge_tables(data, _env_overrides(env))
    if overrides:
        data = merge_tables(data, overrides)
    try:
        settings = msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_config_key(str(exc))}") from exc
    return _check(settings)
