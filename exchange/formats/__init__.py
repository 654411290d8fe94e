"""Partner format families: XML (XSD-checked) and JSON-LD (JSON-Schema-checked)."""
