"""The schema rollout checklist (v2 or v3) as live checks against a running deployment."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from app.contracts.rebalancing import LATEST_SCHEMA_VERSION
from app.sdk.checks import Check
from app.sdk.client import GatewayClient
from app.sdk.errors import Unreachable
from app.sdk.rollout_checks import Checklist

__all__ = ["ROLLOUT_VERSIONS", "Rollout", "render_rollout_md", "rollout", "write_rollout"]

ROLLOUT_VERSIONS = tuple(range(2, LATEST_SCHEMA_VERSION + 1))
"""The schema versions a rollout can target."""


class Rollout(msgspec.Struct, kw_only=True):
    """The checklist outcome, ready to print or attach to a release."""

    url: str
    checked_at: str
    target_version: int = 2
    checks: list[Check] = msgspec.field(default_factory=list)
    unreachable: bool = False
    skipped: list[str] = msgspec.field(default_factory=list)
    """Checks not run because an earlier one failed (the run stops at the first failure)."""

    @property
    def ok(self) -> bool:
        """True when every row passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 all rows passed, 1 a row failed, 2 the Gateway was unreachable."""
        return 0 if self.ok else (2 if self.unreachable else 1)

    def to_builtins(self) -> dict[str, Any]:
        """JSON form (``rollout.json``)."""
        return {"url": self.url, "checked_at": self.checked_at,
                "target_version": self.target_version, "ok": self.ok,
                "exit_code": self.exit_code,
                "checks": [msgspec.to_builtins(c) for c in self.checks],
                "skipped": list(self.skipped)}


def render_rollout_md(result: Rollout) -> str:
    """Markdown form (``rollout.md``)."""
    lines = [f"# Worldgate schema v{result.target_version} rollout check — {result.url}", "",
             f"Checked at {result.checked_at}: **{'READY' if result.ok else 'NOT READY'}**", "",
             "| check | ok | evidence |", "|---|---|---|"]
    lines += [f"| {c.name} | {'✅' if c.ok else '❌'} | {c.evidence.replace('|', '/')} |"
              for c in result.checks]
    lines += [f"| {name} | ⏭ | not run: an earlier check failed |" for name in result.skipped]
    return "\n".join(lines) + "\n"


def rollout(
    url: str, *, token: str | None = None, timeout: float = 10.0, event_timeout: float = 5.0,
    worldservice_url: str | None = None, target_version: int = 2,
) -> Rollout:
    """Run every rollout check for ``target_version`` against a live Gateway (and its
    WorldService).

    The plan and apply checks use fresh world ids (``rollout-<hex>-core`` / ``-alpha``) so
    they never touch real worlds; the applied plan is recorded like any other.

    Args:
        url: the Gateway root.
        token: bearer token, when required.
        timeout: seconds per HTTP call.
        event_timeout: seconds to wait for each WebSocket event.
        worldservice_url: WorldService root when it is not ``<url>/worldservice``.
        target_version: the schema version being rolled out (2 or 3).

    Returns:
        The checklist outcome.

    Raises:
        ValueError: ``target_version`` is not one of ``ROLLOUT_VERSIONS``.
    """
    if target_version not in ROLLOUT_VERSIONS:
        raise ValueError(f"target_version must be one of {ROLLOUT_VERSIONS}")
    result = Rollout(url=url, checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
                     target_version=target_version)
    prefix = f"rollout-{uuid.uuid4().hex[:8]}-"
    with GatewayClient(url, token=token, timeout=timeout,
                       worldservice_url=worldservice_url) as client:
        checklist = Checklist(client, token, event_timeout, target_version)
        try:
            health = client.health()
            ws_caps: dict[str, Any] = {}
            v = target_version

            def configuration() -> None:
                ws_caps.update(checklist.worldservice())
                checklist.gateway(health, ws_caps)

            # Stages in order; the run stops after the first stage with a failed row, so a
            # deployment that is not ready is never written to (only the last stage applies
            # a plan). The configuration stage is two reads, reported as its rows.
            stages: list[tuple[str, Callable[[], object]]] = [
                (f"configuration (WorldService v{v}, Gateway v{v}, agreement)", configuration),
                (f"v{v} plan round-trips", lambda: checklist.target_plan(prefix)),
                ("lower versions get clean answers",
                 lambda: checklist.lower_plans(prefix, ws_caps)),
            ]
            if v >= 3:
                stages.append(("a policy below v3 is refused",
                               lambda: checklist.policy_refusal(prefix)))
            stages.append(("rebalancing_planned reaches each WebSocket client (applies a plan)",
                           lambda: checklist.events(prefix)))
            for index, (_, stage) in enumerate(stages):
                stage()
                if not all(row.ok for row in checklist.rows):
                    result.skipped = [name for name, _ in stages[index + 1 :]]
                    break
        except Unreachable as exc:
            result.unreachable = not checklist.rows
            checklist.add("deployment reachable", [str(exc)], "")
        result.checks = checklist.rows
    return result


def write_rollout(result: Rollout, out_dir: str | Path) -> list[Path]:
    """Write ``rollout.json`` and ``rollout.md`` to ``out_dir`` (created); return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "rollout.json", out / "rollout.md"
    json_path.write_bytes(msgspec.json.format(msgspec.json.encode(result.to_builtins()),
                                              indent=2) + b"\n")
    md_path.write_text(render_rollout_md(result), encoding="utf-8")
    return [json_path, md_path]
