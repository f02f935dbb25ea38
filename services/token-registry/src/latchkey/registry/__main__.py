"""`python -m latchkey.registry`: run the token registry."""

from latchkey.common.serve import serve
from latchkey.registry.app import SERVICE, create_app
from latchkey.registry.settings import RegistrySettings


def main() -> None:
    settings = RegistrySettings()
    serve(create_app(settings), settings, service=SERVICE, ports=[settings.registry_port])


if __name__ == "__main__":
    main()
