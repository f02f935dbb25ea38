"""One module per scenario of issue 7; each returns its figures."""
