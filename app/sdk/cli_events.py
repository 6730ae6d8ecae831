"""``worldgate events``: print ``WS /events`` as JSON lines; ``--follow`` resumes forever."""

from __future__ import annotations

import click
import msgspec

from app.sdk.cli_common import connection_options, fail_sdk
from app.sdk.errors import SdkError
from app.sdk.follow import follow_events

__all__ = ["EVENT_COMMANDS"]

EXIT_INTERRUPTED = 130


@click.command()
@connection_options
@click.option("--topic", "topics", multiple=True, metavar="TOPIC",
              help="Only this topic (rebalancing_planned, rebalancing_orders, ...); repeatable.")
@click.option("--world", "world_ids", multiple=True, metavar="WORLD",
              help="Only events of this world; repeatable.")
@click.option("--since", type=click.IntRange(min=0), default=None, metavar="SEQ",
              help="Start after this seq: the retained events after it are replayed first.")
@click.option("--schema-version", type=click.IntRange(min=1), default=1, show_default=True,
              help="The schema version to read events in (1 hides v2 fields).")
@click.option("--follow", "-f", is_flag=True,
              help="Keep streaming; reconnect and resume after the last seq on any disconnect.")
@click.option("--idle", type=click.FloatRange(min=0, min_open=True), default=2.0,
              show_default=True, help="Without --follow: stop after this many quiet seconds.")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="Stop after this many events.")
def events(url: str, token: str | None, timeout: float, topics: tuple[str, ...],
           world_ids: tuple[str, ...], since: int | None, schema_version: int, follow: bool,
           idle: float, count: int | None) -> None:
    """Print events from WS /events, one JSON object per line (notices go to stderr)."""

    def notice(kind: str, detail: str) -> None:
        if kind != "connected" or follow:
            click.echo(f"{kind}: {detail}", err=True)

    stream = follow_events(
        url, token=token, topics=topics, world_ids=world_ids, schema_version=schema_version,
        since=since, reconnect=follow, idle_timeout=None if follow else idle,
        open_timeout=timeout, on_notice=notice)
    printed = 0
    try:
        for event in stream:
            click.echo(msgspec.json.encode(event).decode())
            printed += 1
            if count is not None and printed >= count:
                break
    except SdkError as exc:
        fail_sdk(exc)
    except KeyboardInterrupt:  # Ctrl+C is how a --follow ends: the shell's 130, no trace
        raise SystemExit(EXIT_INTERRUPTED) from None
    finally:
        stream.close()


EVENT_COMMANDS: tuple[click.Command, ...] = (events,)
