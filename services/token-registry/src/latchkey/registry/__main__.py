"""`python -m latchkey.registry`: run the token registry."""

from latchkey.common.serve import serve
from latchkey.common.settings import startup_errors
from latchkey.registry.app import SERVICE, create_app
from latchkey.registry.settings import RegistrySettings


def main() -> None:
    with startup_errors(SERVICE):
        settings = RegistrySettings()
        app = create_app(settings)
    serve(app, settings, service=SERVICE, ports=[settings.registry_port])


if __name__ == "__main__":
    main()
