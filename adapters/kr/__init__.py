"""KR partner (E&E product certificates out, KC certificates back; PT rounds): all
data-driven from mappings/kr/ and schemas/kr/."""

from exchange.formats.xml import XmlPartnerFormat

format = XmlPartnerFormat.from_manifest("kr")
