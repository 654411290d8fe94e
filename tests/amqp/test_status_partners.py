"""`exchange status` lists every partner the agreements name (Norway and Japan too), each
with its health and why: none is hard-coded, and a partner that cannot deliver says so."""

from __future__ import annotations

import json

import pytest

from exchange.audit import open_store
from exchange.config import load_config
from exchange.resources import adapters_path
from tests.amqp.helpers import cli
from tests.amqp.isolated import World

pytestmark = [pytest.mark.rabbitmq]


def test_status_lists_every_shipped_partner_with_its_health(world: World) -> None:
    shipped = adapters_path("agreements.toml")
    open_store(world.audit_url).close()  # an audit store, empty: rates are zero, not unknown
    args = ("--amqp", world.url, "--audit", world.audit_url, "--config", str(shipped))
    code, out, err = cli("status", "--json", *args)
    assert code == 0, err
    partners = json.loads(out)["partners"]
    assert set(partners) == set(load_config(shipped).partners) and {"no", "jp"} <= set(partners)
    # Norway's agreement names no endpoint yet: not configured, and the reason says what is missing
    assert partners["no"]["health"] == "not_configured", partners["no"]
    assert "soap_outbound_url" in partners["no"]["reason"]
    assert partners["jp"]["health"] in ("not_configured", "stalled", "ok", "idle"), partners["jp"]
    code, text, err = cli("status", *args)
    assert code == 0, err
    for partner in ("no", "jp"):
        assert any(line.split()[:1] == [partner] for line in text.splitlines()), text
