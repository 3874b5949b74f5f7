"""A hostile control server against `netfreedom probe run`: wall time and peak RSS of the probe process.

    python bench/probe_control.py [--timeout 3] [--interval 1] [--repeat 3]

One URL (http://127.0.0.1:1/, refused at once, so the control exchange is what is timed) measured with
the real CLI in a child process, against each behaviour of ``netfreedom.probe.labcontrol.HostileControl``
(a 1 GB reply, an endless chunked reply, a gzip bomb, a reply nested 100,000 levels, one byte every
``--interval`` seconds) and an honest control (``ok``, the baseline).  Figures: the median of ``--repeat``
runs of each (seconds, peak RSS in MiB of the probe process), its ratio to the baseline, and the
control_failure the measurement recorded.  The documented bounds: the whole control exchange within
max(30 s, 3 × --timeout), the reply read at most ``MAX_CONTROL_REPLY`` bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netfreedom.probe.labcontrol import ControlBehaviour, HostileControl
from netfreedom.probe.measure import MAX_CONTROL_REPLY

# The child reports its own peak RSS (ru_maxrss of its children: the probe only).
_WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=False, stdout=subprocess.DEVNULL, "
    "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def once(control_url: str, timeout: float, folder: Path) -> tuple[float, float, str | None]:
    out = folder / "out.jsonl"
    command = [
        sys.executable, "-m", "netfreedom", "probe", "run", "--yes", "--url", "http://127.0.0.1:1/",
        "--control", control_url, "--timeout", str(timeout), "--output", str(out),
    ]  # fmt: skip
    env = dict(os.environ, NETFREEDOM_CONFIG_DIR=str(folder))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, env=env, check=True
    )
    elapsed = time.perf_counter() - started
    rss_mib = int(done.stdout.strip()) / 1024
    failure = json.loads(out.read_text())["test_keys"]["control_failure"]
    return elapsed, rss_mib, failure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    deadline = max(30.0, 3 * args.timeout)
    print(f"--timeout {args.timeout}: control deadline {deadline:.0f} s, reply cap {MAX_CONTROL_REPLY} bytes")
    order = [ControlBehaviour.OK, *(b for b in ControlBehaviour if b is not ControlBehaviour.OK)]
    base_time = base_rss = 0.0
    with HostileControl(interval=args.interval) as control, tempfile.TemporaryDirectory() as tmp:
        for behaviour in order:
            runs = [once(control.url(behaviour), args.timeout, Path(tmp)) for _ in range(args.repeat)]
            seconds = statistics.median(r[0] for r in runs)
            rss = statistics.median(r[1] for r in runs)
            if behaviour is ControlBehaviour.OK:
                base_time, base_rss = seconds, rss
            print(
                f"{behaviour.value:<11} {seconds:6.1f} s ({seconds / base_time:4.1f}x)  "
                f"peak RSS {rss:6.1f} MiB ({rss / base_rss:4.2f}x)  control_failure {runs[0][2]}"
            )


if __name__ == "__main__":
    main()
