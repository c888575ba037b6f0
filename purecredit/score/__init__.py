"""Credit models: the WOE scorecard, its LightGBM challenger and their cross-validation
(DESIGN.md, `score`)."""
