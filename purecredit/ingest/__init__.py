"""Ingest: the source catalogue, connectors, validation, quarantine, PII protection at entry,
and versioned facts landed in the lake ("one item, one source; several sources cross-check;
updated continuously")."""
