"""Latchkey auth: users and their passwords, login and logout, signing keys, issuing tokens."""
