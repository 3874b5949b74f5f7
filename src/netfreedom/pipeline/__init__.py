"""Orchestration shared by the CLI commands: ingest sources into the store, analyse the store, build."""
