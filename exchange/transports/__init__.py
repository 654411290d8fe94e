"""Transport plug-ins, one package each, loaded by name from the agreement's `transport`
(exchange.registry.transport_for): `soap-push` is soap_push/plugin.py:TRANSPORT."""
