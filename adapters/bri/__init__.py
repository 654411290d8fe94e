"""Belt and Road open data feed: UNTP-aligned JSON-LD credentials, public fields only.

All data-driven: mappings/bri/ (manifest, templates, code lists), schemas/bri/.
"""

from exchange.formats.jsonld import JsonLdPartnerFormat

format = JsonLdPartnerFormat.from_manifest("bri")

__all__ = ["JsonLdPartnerFormat", "format"]
