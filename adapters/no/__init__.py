"""Norway partner (E&E product certification mutual recognition): all data-driven."""

from exchange.formats.xml import XmlPartnerFormat

format = XmlPartnerFormat.from_manifest("no")
