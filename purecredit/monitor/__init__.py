"""Post-loan monitoring: events from new facts, warning rules, daily batches, cases that
officers verify, how good the warnings are, and portfolio drift."""
