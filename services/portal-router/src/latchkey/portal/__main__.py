"""`python -m latchkey.portal`: run the portal router (on its port and any extra ports)."""

from latchkey.common.serve import serve
from latchkey.portal.app import SERVICE, create_app
from latchkey.portal.settings import RouterSettings


def main() -> None:
    settings = RouterSettings()
    serve(create_app(settings), settings, service=SERVICE, ports=settings.listening_ports())


if __name__ == "__main__":
    main()
