"""The process that runs a local cluster (`imgfleet geo up` starts it, detached).

    python -m imgfleet.geo.supervisor FOLDER

It runs the plan in FOLDER (`geo.cluster`), writes `state.json` once every region is ready
(or with the error that stopped it), and takes commands on the Unix socket `control.sock`,
one JSON line each:

    {"command": "cut", "region": "eu"}      {"command": "heal"} (or with a region)
    {"command": "state"}                    {"command": "env", "region": "eu"}
    {"command": "down"}

each answered with one JSON line, `{"ok": true, "state": {...}}` or `{"ok": false, "error":
"..."}`. SIGTERM stops the cluster as `down` does.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from imgfleet.geo.cluster import STATE, Cluster, Plan

CONTROL = "control.sock"


async def supervise(folder: Path) -> int:
    cluster = Cluster(Plan.load(folder))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await cluster.start()
    except (RuntimeError, OSError) as error:
        _write_state(folder, {"error": str(error)})
        await cluster.stop()
        return 1

    async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline())
            answer = _run(cluster, request, stopping)
        except (ValueError, KeyError, TypeError) as error:
            answer = {"ok": False, "error": str(error)}
        _write_state(folder, {"ready": True, **cluster.state()})
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()
        writer.close()

    control = folder / CONTROL
    control.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(command, str(control))
    _write_state(folder, {"ready": True, **cluster.state()})
    await stopping.wait()
    server.close()
    await cluster.stop()
    control.unlink(missing_ok=True)
    _write_state(folder, {"stopped": True})
    return 0


def _run(cluster: Cluster, request: dict[str, Any], stopping: asyncio.Event) -> dict[str, Any]:
    match request["command"]:
        case "cut":
            cluster.cut(str(request["region"]))
        case "heal":
            region = request.get("region")
            cluster.heal(None if region is None else str(region))
        case "down":
            stopping.set()
        case "state":
            pass
        case "env":
            return {"ok": True, "state": {"env": cluster.environment_of(str(request["region"]))}}
        case other:
            raise ValueError(f"unknown command {other!r}: cut, heal, state or down")
    return {"ok": True, "state": cluster.state()}


def _write_state(folder: Path, state: dict[str, Any]) -> None:
    temporary = folder / f".{STATE}.tmp"
    temporary.write_text(json.dumps(state, indent=2))
    temporary.replace(folder / STATE)


if __name__ == "__main__":
    sys.exit(asyncio.run(supervise(Path(sys.argv[1]))))
