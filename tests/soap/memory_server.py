"""A SOAP endpoint in a process of its own, for measuring what requests cost it.

python -m tests.soap.memory_server FOLDER      prints "PORT <n>", serves until stdin closes
"""

from __future__ import annotations

import sys
from pathlib import Path

from exchange.signing import generate_key_pair
from exchange.soap.loopback import start_endpoint


def main(folder: Path) -> None:
    ours = generate_key_pair(folder / "ours", common_name="mra-exchange memory test")
    pem = generate_key_pair(folder / "partner", common_name="partner").certificate.read_bytes()
    endpoint = start_endpoint(folder / "endpoint", ours, certificates={"eu": pem, "nz": pem})
    print(f"PORT {endpoint.server.port}", flush=True)
    sys.stdin.read()
    endpoint.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
