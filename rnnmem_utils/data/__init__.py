"""Data: seeded synthetic generators (never stored) and verified corpus loaders."""
