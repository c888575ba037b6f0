"""Profiles: entity resolution, the person 360 profile, the enterprise + legal-representative
graph, and point-in-time features (DESIGN.md, `profile`)."""
