"""EU partner (GLP statements, PT results, product certificates): all data-driven."""

from exchange.formats.xml import XmlPartnerFormat

format = XmlPartnerFormat.from_manifest("eu")
