"""Run the tutorial's commands against a real server: record what they print, or compare it.

Every command of ``docs/tutorial.md`` is a file under ``docs/tutorial/``: ``NAME.sh`` holds
what the reader types and ``NAME.out`` what it printed; the page includes both. This module
runs the steps in order against a fresh server (``app.testing.serve_process``, its own
SQLite file), in a scratch folder that sees the repository's ``examples/``:

- ``python -m scripts.tutorial_session --record`` rewrites every ``.out`` file (and the
  ids the later commands reuse, such as the execution id that ``submit`` takes);
- ``tests/docs/test_tutorial.py`` runs the same steps and fails when an output no longer
  matches its ``.out`` file in shape: equal once ids, etags and times are masked.

The server listens on a free port; outputs show it as ``127.0.0.1:8000``, where
``make run`` listens, and its database as ``var/worldgate.sqlite3``.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

from app.testing import serve_process, settings_env

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "tutorial"
SHOWN_URL = "127.0.0.1:8000"
SHOWN_DB = "var/worldgate.sqlite3"
COLUMNS = "120"
WAIT = 15.0
# The start-up lines the page shows (the others name process ids and the host).
SERVER_LINES = re.compile(r"store_started|relay_subscribed|Application startup complete|"
                          r"Uvicorn running on")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
VOLATILE = re.compile(
    r"(?P<uuid>\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)"
    r"|(?P<hex>\b[0-9a-f]{20,}\b)"
    r"|(?P<time>\b\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)?)")


@dataclass(frozen=True)
class Step:
    """One command of the tutorial.

    Attributes:
        name: the files ``NAME.sh`` and ``NAME.out`` under ``docs/tutorial/``.
        kind: ``run`` (run it and wait), ``server`` (the server's start-up lines) or
            ``follow`` (started in the background; its lines are shown in parts).
        follow: for a ``run`` step, the ``.out`` file that holds the lines the follower
            printed because of it, and how many event lines to wait for.
        reuse: the earlier step whose output's first id this command takes (the shown
            command holds the id of the recorded output; a run puts in its own).
    """

    name: str
    kind: str = "run"
    follow: tuple[str, int] | None = None
    reuse: str | None = None


STEPS = (
    Step("serve", kind="server"),
    Step("health"),
    Step("plan"),
    Step("plan-table"),
    Step("events", kind="follow"),
    Step("apply", follow=("events-planned", 2)),
    Step("preview"),
    Step("submit", follow=("events-orders", 2), reuse="preview"),
    Step("execution", reuse="preview"),
    Step("report"),
)


@dataclass
class Session:
    """The state of one run: the commands as run, their outputs, what did not match."""

    record: bool
    outputs: dict[str, str] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def compare(self, name: str, fresh: str) -> None:
        """Keep ``fresh`` as the output of ``name``; check it against the recorded one."""
        self.outputs[name] = fresh
        if self.record:
            return
        path = FOLDER / f"{name}.out"
        recorded = path.read_text() if path.exists() else ""
        shown, got = mask(recorded), mask(fresh)
        if shown != got:
            self.problems.append(f"{name}.out no longer matches what the command prints "
                                 "(ids and times aside); `python -m scripts.tutorial_session "
                                 "--record` records it again:\n" + _diff(shown, got))

    def command(self, step: Step) -> str:
        """The step's command, with the id it reuses taken from this run's output."""
        command = (FOLDER / f"{step.name}.sh").read_text()
        if step.reuse is not None:
            fresh = UUID.search(self.outputs.get(step.reuse, ""))
            if fresh is None:
                raise ValueError(f"{step.reuse} printed no id for {step.name} to use")
            command, count = UUID.subn(fresh.group(0), command, count=1)
            if count != 1:
                raise ValueError(f"{step.name}.sh holds no id to replace")
        self.commands[step.name] = command
        return command


def mask(text: str) -> str:
    """``text`` with its ids, etags and times replaced by ``<uuid>``, ``<hex>``, ``<time>``."""
    return VOLATILE.sub(lambda match: f"<{match.lastgroup}>", text)


def _diff(shown: str, got: str) -> str:
    import difflib

    lines = difflib.unified_diff(shown.splitlines(), got.splitlines(), "shown", "now",
                                 lineterm="", n=1)
    return "\n".join(list(lines)[:40])


def _clean(text: str, url: str, db: Path) -> str:
    host = url.removeprefix("http://")
    text = text.replace(host, SHOWN_URL).replace(str(db), SHOWN_DB)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"


def _worldgate() -> list[str]:
    script = Path(sys.executable).with_name("worldgate")
    if not script.exists():
        raise RuntimeError(f"no worldgate script beside {sys.executable}: pip install -e .")
    return [str(script)]


def _argv(command: str) -> list[str]:
    words = shlex.split(command.replace("\\\n", " "))
    if words[0] != "worldgate":
        raise ValueError(f"a tutorial command starts with worldgate: {command!r}")
    return _worldgate() + words[1:]


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORLDGATE")}
    env.update(WORLDGATE_URL=url, COLUMNS=COLUMNS, LINES="50", PYTHONUNBUFFERED="1",
               NO_COLOR="1", TERM="dumb")
    return env


class Follower:
    """A background command whose merged output lines are read as they come."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def take(self, *, until_prefix: str | None = None, events: int = 0) -> str:
        """The lines printed until one starts with ``until_prefix``, or until ``events``
        JSON lines arrived."""
        taken: list[str] = []
        deadline = time.monotonic() + WAIT
        seen = 0
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError("the follower printed: " + "".join(taken)) from None
            taken.append(line)
            if until_prefix is not None and line.startswith(until_prefix):
                return "".join(taken)
            if line.startswith("{"):
                seen += 1
                if seen == events:
                    return "".join(taken)

    def stop(self) -> None:
        """Interrupt it as Ctrl-C would, then make sure it is gone."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._pump_thread.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def _server(folder: Path) -> Iterator[tuple[str, Path]]:
    db = folder / "worldgate.sqlite3"
    log = folder / "server.log"
    env = settings_env({"store": {"sqlite_path": str(db)}, "server": {"log_level": "info"}})
    with serve_process(env, log_path=log, timeout=60) as server:
        yield server.url, log


def run(*, record: bool) -> Session:
    """Run every step against a fresh server; with ``record``, rewrite the ``.out`` files."""
    session = Session(record=record)
    with TemporaryDirectory(prefix="worldgate-tutorial-") as scratch:
        folder = Path(scratch)
        (folder / "examples").symlink_to(ROOT / "examples")
        with _server(folder) as (url, log):
            db = folder / "worldgate.sqlite3"
            env = _env(url)
            follower: Follower | None = None
            try:
                for step in STEPS:
                    command = session.command(step)
                    if step.kind == "server":
                        started = [line for line in log.read_text().splitlines()
                                   if SERVER_LINES.search(line)]
                        session.compare(step.name, _clean("\n".join(started), url, db))
                        continue
                    argv = _argv(command)
                    if step.kind == "follow":
                        follower = Follower(argv, env, folder)
                        text = follower.take(until_prefix="connected:")
                        session.compare("events-connected", _clean(text, url, db))
                        continue
                    done = subprocess.run(argv, env=env, cwd=folder, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, timeout=60,
                                          check=False)
                    if done.returncode != 0:
                        session.problems.append(f"{step.name}: exit {done.returncode}:\n"
                                                f"{done.stdout}")
                        break
                    session.compare(step.name, _clean(done.stdout, url, db))
                    if step.follow is not None and follower is not None:
                        name, count = step.follow
                        session.compare(name, _clean(follower.take(events=count), url, db))
            finally:
                if follower is not None:
                    follower.stop()
    if record and not session.problems:
        _write(session)
    return session


def _write(session: Session) -> None:
    """Write the outputs, and the commands as run (with the ids of these outputs)."""
    for name, text in session.outputs.items():
        (FOLDER / f"{name}.out").write_text(text)
    for name, command in session.commands.items():
        (FOLDER / f"{name}.sh").write_text(command)


def main() -> int:
    """``--record`` rewrites the outputs; without it, report what no longer matches."""
    parser = argparse.ArgumentParser(prog="python -m scripts.tutorial_session",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true",
                        help="rewrite docs/tutorial/*.out from a fresh run")
    args = parser.parse_args()
    session = run(record=args.record)
    for problem in session.problems:
        print(problem, file=sys.stderr)
    if args.record and not session.problems:
        print(f"recorded {len(session.outputs)} outputs in docs/tutorial/")
    return 1 if session.problems else 0


if __name__ == "__main__":
    sys.exit(main())
