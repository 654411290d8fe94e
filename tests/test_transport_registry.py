"""The transport registry (exchange.registry.transport_for): the agreement's `transport`
names a plug-in, loaded lazily; a transport is added by files, not by editing exchange/."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from exchange.config import Agreement, load_config
from exchange.errors import ConfigError
from exchange.registry import transport, transport_for, transport_name
from exchange.service.transport import Transport


def agreement(transport: str, **options: str) -> Agreement:
    return Agreement(
        partner="zz",
        name="test",
        format="exchange.formats.xml:XmlFormat",
        families=frozenset(),
        transport=transport,
        options=options,
    )


@pytest.mark.parametrize("name", ["amqp", "soap-push", "soap-pull", "stream", "file"])
def test_every_transport_named_in_issue_15_loads_as_a_transport(name: str) -> None:
    first, second = transport(name), transport(name)
    assert isinstance(first, Transport)
    assert type(first).__module__ == f"exchange.transports.{name.replace('-', '_')}.plugin"
    assert first is not second  # one per running service: clients and breakers are not shared


def test_the_agreements_soap_is_push_or_pull_by_its_delivery_option() -> None:
    assert transport_name(agreement("soap")) == "soap-push"
    assert transport_name(agreement("soap", delivery="pull")) == "soap-pull"
    assert transport_name(agreement("soap-pull")) == "soap-pull"
    assert type(transport_for(agreement("soap", delivery="pull"))).__name__ == "SoapPullTransport"


def test_what_the_shipped_agreements_describe_comes_from_their_transports() -> None:
    config = load_config()
    said = {p: transport_for(a).describe(a) for p, a in config.partners.items()}
    assert said["kr"].startswith("AMQP vhost mra-kr: exchange ")
    assert said["nz"] == "SOAP pull from our /soap/v1 (ListPending, PullDocument, AcknowledgeDocument)"
    assert said["bri"] == "RabbitMQ stream bri.feed"
    assert said["eu"] == "SOAP push (partner-eu-1.0.wsdl; no soap_outbound_url configured)"
    assert said["no"] == "SOAP push (partner-receive-1.0.wsdl; no soap_outbound_url configured)"
    assert said["jp"] == said["nz"]


def _write_config(tmp_path: Path, transport: str) -> Path:
    shipped = load_config()
    eu = shipped.partners["eu"]
    path = tmp_path / f"agreements-{len(list(tmp_path.glob('agreements-*')))}.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [partners.zz]
            name = "A partner from files"
            format = "{eu.format}"
            families = ["ccc"]
            transport = "{transport}"
            """
        )
    )
    return path


def test_a_transport_kept_outside_exchange_is_named_by_import_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "carrier_pigeon.py").write_text(
        textwrap.dedent(
            """
            from exchange.service.transport import BaseTransport

            class Pigeon(BaseTransport):
                def describe(self, agreement):
                    return "by pigeon to " + agreement.partner

            TRANSPORT = Pigeon
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_config(_write_config(tmp_path, "carrier_pigeon:TRANSPORT"))
    zz = config.partners["zz"]
    assert transport_for(zz).describe(zz) == "by pigeon to zz"
    sys.modules.pop("carrier_pigeon", None)


def test_a_misspelt_transport_fails_when_the_configuration_loads(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown transport 'soap-psuh'.*exchange\.transports\.soap_psuh"):
        load_config(_write_config(tmp_path, "soap-psuh"))
    with pytest.raises(ConfigError, match=r"transport 'Soap Push' is not a name"):
        load_config(_write_config(tmp_path, "Soap Push"))


def test_an_import_path_to_something_else_is_refused_naming_the_partner(tmp_path: Path) -> None:
    zz = load_config(_write_config(tmp_path, "exchange.service.topology:FEED_STREAM")).partners["zz"]
    with pytest.raises(ConfigError, match=r"partner zz: transport .*does not make a transport"):
        transport_for(zz)
    missing = load_config(_write_config(tmp_path, "exchange.nowhere:TRANSPORT")).partners["zz"]
    with pytest.raises(ConfigError, match=r"partner zz: .*cannot import 'exchange.nowhere'"):
        transport_for(missing)
