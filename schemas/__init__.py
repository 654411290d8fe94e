"""XSD, WSDL and JSON Schema files per partner and version (package data)."""
