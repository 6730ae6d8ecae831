"""Follow Worldgate's ``WS /events`` stream, resuming after disconnects without gaps.

Usage::

    python docs/examples/ws_client.py --url ws://127.0.0.1:8000/events \
        --world-id world-a --schema-version 2 [--token TOKEN] [--max-events N]

Each event is printed as one JSON line on stdout; control messages go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from urllib.parse import urlencode

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus


def events_url(base: str, args: argparse.Namespace, since: int | None) -> str:
    """Build the subscription URL (query parameters) for one connection."""
    query: list[tuple[str, str]] = [("schema_version", str(args.schema_version))]
    query += [("topics", topic) for topic in args.topic]
    query += [("world_id", world) for world in args.world_id]
    if since is not None:
        query.append(("since", str(since)))
    return f"{base}?{urlencode(query)}"


async def follow(args: argparse.Namespace) -> None:
    """Print events until ``--max-events`` were printed (forever when 0)."""
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    last_seq: int | None = args.since  # the resume point: the last seq we printed
    printed = 0
    while True:
        url = events_url(args.url, args, last_seq)
        try:
            async with websockets.connect(url, additional_headers=headers) as ws:
                async for raw in ws:
                    message = json.loads(raw)
                    kind = message.get("type")
                    if "id" in message:  # an event (its `type` is the topic)
                        print(json.dumps(message), flush=True)
                        if message.get("seq") is not None:
                            last_seq = message["seq"]
                        printed += 1
                        if args.max_events and printed >= args.max_events:
                            return
                    elif kind == "lagged":
                        # We were too slow: reconnect from the last event we printed and
                        # let the server replay the ones we missed.
                        print(f"lagged: {message}; resuming", file=sys.stderr, flush=True)
                        break
                    elif kind == "error":
                        print(f"error: {message}", file=sys.stderr, flush=True)
                        return
                    else:  # subscribed, gap
                        print(f"{kind}: {message}", file=sys.stderr, flush=True)
        except InvalidStatus as exc:
            print(f"refused: HTTP {exc.response.status_code}", file=sys.stderr)
            return
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            if code == 4401:
                print("refused: bad or missing token", file=sys.stderr)
                return
            print(f"closed ({code}); reconnecting", file=sys.stderr, flush=True)
        except OSError as exc:
            print(f"cannot connect ({exc}); retrying", file=sys.stderr, flush=True)
        await asyncio.sleep(args.retry_seconds)


def main() -> None:
    """Parse the command line and follow the stream."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/events")
    parser.add_argument("--topic", action="append", default=[], help="repeatable")
    parser.add_argument("--world-id", action="append", default=[], help="repeatable")
    parser.add_argument("--schema-version", type=int, default=1, choices=(1, 2))
    parser.add_argument("--since", type=int, default=None, help="last seq already seen")
    parser.add_argument("--token", default=None, help="bearer token, if the server needs one")
    parser.add_argument("--max-events", type=int, default=0, help="stop after N (0 = never)")
    parser.add_argument("--retry-seconds", type=float, default=1.0)
    asyncio.run(follow(parser.parse_args()))


if __name__ == "__main__":
    main()
