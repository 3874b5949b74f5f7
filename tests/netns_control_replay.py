"""Replay control requests against ``netfreedom control serve`` — run inside ``unshare -rn`` only.

Usage: ``unshare -rn python tests/netns_control_replay.py REQUESTS.json`` where the file holds
``[{"request": {...}, "zone": {name: [ipv4, ...]}}]``.  In the private network namespace only loopback
exists (brought up here), so nothing can reach the internet: the control's resolver is a loopback DNS
server answering the zone, and every dial to a public address fails at once.  Prints
``[{"status": int, "body": ...}]`` as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from netfreedom.probe.labdns import DnsServer


def main(path: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cases = json.loads(Path(path).read_text())
    zone: dict[str, list[str]] = {}
    for case in cases:
        zone.update(case["zone"])
    loop = asyncio.new_event_loop()
    dns = DnsServer("127.0.0.1", zone)
    loop.run_until_complete(dns.start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    env = dict(os.environ)
    command = [sys.executable, "-m", "netfreedom", "control", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--resolver", dns.address, "--timeout", "2"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    out = []
    try:
        for _ in range(300):
            try:
                hello = httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        out.append({"status": hello.status_code, "body": hello.json()})
        for case in cases:
            agent = {"User-Agent": "ooniprobe-cli/3.20"}
            answer = httpx.post(url, json=case["request"], timeout=60, headers=agent)
            body = answer.json() if answer.headers.get("content-type") == "application/json" else answer.text
            out.append({"status": answer.status_code, "body": body})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
