"""Latchkey portal router: deep-link login to any page, sessions, domain policy, proxying."""
