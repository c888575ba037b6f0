"""Decisions: the lending policy as versioned data (`policy`) and the pure functions that
apply it (`rules`, `limits`, `pricing`, `authority`), the engine that chains them, and the
unified-limit exposure ledger."""
