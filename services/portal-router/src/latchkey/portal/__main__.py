"""`python -m latchkey.portal`: run the portal router (on its port and any extra ports)."""

from latchkey.common.serve import serve
from latchkey.common.settings import startup_errors
from latchkey.portal.app import SERVICE, create_app
from latchkey.portal.settings import RouterSettings


def main() -> None:
    with startup_errors(SERVICE):
        settings = RouterSettings()
        app = create_app(settings)
        tls = settings.tls_context()
    serve(app, settings, service=SERVICE, ports=settings.listening_ports(), tls=tls)


if __name__ == "__main__":
    main()
