"""Latchkey's shared library: settings, errors, logging, health, storage, events, tokens."""
