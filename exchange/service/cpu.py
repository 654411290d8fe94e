"""CPU used per process, read from /proc: benchmarks state µs of CPU per record for the
service, its conversion process, a simulator and the broker, not just wall-clock rates."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its own, not its children's), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def broker_pid() -> int | None:
    """The RabbitMQ node on this machine, if we can see it: of the Erlang VMs (`beam.smp`;
    every `rabbitmqctl` runs one too, briefly), the one that has used the most CPU."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "beam.smp":
                pid = int(comm.parent.name)
                found.append((cpu_seconds(pid), pid))
        except (OSError, ValueError):
            continue
    return max(found)[1] if found else None


@dataclass
class CpuMeter:
    """CPU seconds of named processes between start() and stop()."""

    pids: dict[str, list[int]]
    _start: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _sample(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.pids.items()}

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> None:
        end = self._sample()
        self.used = {name: end[name] - self._start.get(name, 0.0) for name in end}
