"""The three-node cluster of scripts/local-cluster.sh, driven from Python: the tests' own
node names, ports and directory, so a demo cluster (mra1..3) and the shared node on 5672
are never touched; torn down by the fixture's finaliser and, should that never run, at exit."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pika
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "local-cluster.sh"


def cluster_unavailable() -> str | None:
    """Why this host cannot run the cluster (None: it can)."""
    if os.geteuid() != 0:
        return "the cluster harness runs its nodes as the rabbitmq user: run as root"
    if not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists() or shutil.which("runuser") is None:
        return "RabbitMQ (/usr/lib/rabbitmq/bin/rabbitmq-server) or runuser is not installed"
    return None


@dataclass
class LocalCluster:
    name: str = "mrat"
    amqp_base: int = 5690
    stream_base: int = 5570
    dist_base: int = 25690
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mra-cluster-", dir="/tmp")))
    urls: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MRA_CLUSTER_NAME": self.name,
            "MRA_CLUSTER_DIR": str(self.directory),
            "MRA_CLUSTER_AMQP_BASE": str(self.amqp_base),
            "MRA_CLUSTER_STREAM_BASE": str(self.stream_base),
            "MRA_CLUSTER_DIST_BASE": str(self.dist_base),
        }

    def script(self, *args: str, timeout: float = 180) -> str:
        out = subprocess.run(
            [str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"local-cluster.sh {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out.stdout

    def stop_strays(self) -> None:
        """Nodes of ours (these names only) left by a run that was killed before its teardown."""
        for n in (1, 2, 3):
            subprocess.run(
                ["rabbitmqctl", "-q", "-n", self.node(n), "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )

    def up(self) -> list[str]:
        atexit.register(self.down)
        self.stop_strays()
        self.urls = [line for line in self.script("up", timeout=300).splitlines() if line.startswith("amqp")]
        return self.urls

    def stream_urls(self, vhost: str) -> list[str]:
        """Each node's stream protocol listener, for `vhost` (EXCHANGE_AMQP_STREAM_URL)."""
        return [f"rabbitmq-stream://guest:guest@127.0.0.1:{self.stream_base + n}/{vhost}" for n in (1, 2, 3)]

    def down(self) -> None:
        subprocess.run([str(SCRIPT), "down"], env=self.env, capture_output=True, timeout=180, check=False)

    def node(self, n: int) -> str:
        return f"{self.name}{n}@localhost"

    def ctl(self, n: int, *args: str, timeout: float = 120) -> str:
        """rabbitmqctl on node n of THIS cluster (always with -n)."""
        out = subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.node(n), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.node(n)} {' '.join(args)}: {out.stderr}")
        return out.stdout

    def kill(self, n: int) -> None:
        self.script("kill", str(n))

    def stop(self, n: int) -> None:
        self.script("stop", str(n))

    def start(self, n: int) -> None:
        self.script("start", str(n))

    def pause(self, n: int) -> None:
        self.script("pause", str(n))

    def resume(self, n: int) -> None:
        self.script("resume", str(n))

    def leader(self, queue: str, vhost: str = "/") -> int:
        return int(self.script("leader", queue, vhost).strip())

    def running(self, n: int) -> bool:
        try:
            pika.BlockingConnection(pika.URLParameters(self.urls[n - 1])).close()
            return True
        except pika.exceptions.AMQPError:
            return False

    def await_all(self, timeout: float = 120) -> None:
        """Every node answering AMQP again and every quorum member back (after a restart)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.running(n) for n in (1, 2, 3)):
                try:
                    self.ctl(1, "await_online_nodes", "3", "--timeout", "30")
                    return
                except RuntimeError:
                    pass
            time.sleep(1)
        raise AssertionError(f"the cluster did not come back within {timeout} s")


def form_cluster() -> LocalCluster:
    """Up, or fail under CI=true / skip elsewhere, saying why."""
    reason = cluster_unavailable()
    if reason is None:
        cluster = LocalCluster()
        try:
            cluster.up()
            return cluster
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            cluster.down()
            reason = f"the three-node cluster could not be formed: {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: the cluster suite must run)")
    pytest.skip(reason)
