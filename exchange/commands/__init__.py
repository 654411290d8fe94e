"""The jobs behind CLI commands, callable and testable without the CLI."""
