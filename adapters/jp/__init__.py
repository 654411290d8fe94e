"""Japan partner (PT cooperation: proficiency-testing rounds only): all data-driven."""

from exchange.formats.xml import XmlPartnerFormat

format = XmlPartnerFormat.from_manifest("jp")
