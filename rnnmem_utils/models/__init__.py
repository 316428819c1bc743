"""Recurrent cells with explicit equations, and sequence wrappers. Time-major (T, B, ...)."""
