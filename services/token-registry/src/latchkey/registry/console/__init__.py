"""The token console: plain HTML pages for admins, reached through the router's admin portal
(its URLs in `routes.py`)."""
