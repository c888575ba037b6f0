"""Settings, errors, identifiers, masking, keys and crypto: import from the submodules."""
