"""The `latchkey` admin command line: users, tokens, signing keys and the domain policy."""

__version__ = "0.1.0"
