"""NZ partner (WorkSafe NZ, EESS: E&E and non-electrical product certificates): all data-driven."""

from exchange.formats.xml import XmlPartnerFormat

format = XmlPartnerFormat.from_manifest("nz")
