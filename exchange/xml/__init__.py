"""XML handling: one hardened parser for everything, compiled schemas, serialisation."""
