"""The README documents every setting a service reads, with its real default."""

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from latchkey.auth.settings import AuthSettings
from latchkey.portal.settings import RouterSettings
from latchkey.registry.settings import RegistrySettings

README = Path(__file__).resolve().parents[2] / "README.md"
SETTINGS: list[type[BaseSettings]] = [AuthSettings, RegistrySettings, RouterSettings]


def documented_variables() -> set[str]:
    return set(re.findall(r"`(LATCHKEY_[A-Z_]+)`", README.read_text()))


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda cls: cls.__name__)
def test_every_setting_is_in_the_readme(settings: type[BaseSettings]) -> None:
    prefix = settings.model_config["env_prefix"]
    names = {prefix + name.upper() for name in settings.model_fields}
    assert names - documented_variables() == set()


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    known = {
        cls.model_config["env_prefix"] + name.upper()
        for cls in SETTINGS
        for name in cls.model_fields
    }
    test_only = {"LATCHKEY_TEST_DATABASE_URL", "LATCHKEY_TEST_AMQP_URL"}
    assert documented_variables() - known - test_only == set()


def directives(text: str) -> list[str]:
    """The nginx directives of a configuration text, one a line, white space folded."""
    found = []
    for line in text.splitlines():
        line = " ".join(line.split("#", 1)[0].split())
        if line and line not in ("}", "{"):
            found.append(line)
    return found


def test_the_readmes_nginx_blocks_are_the_ones_the_tests_run() -> None:
    from tests.support.nginx import README_BLOCKS, protected_location

    shown = re.search(r"```nginx\n(.*?)```", README.read_text(), flags=re.S)
    assert shown, "no nginx block in the README"
    readme = directives(shown[1])
    tested = directives(README_BLOCKS.format(router="127.0.0.1:9005")) + directives(
        protected_location("agent", "http://your-agent-app")
    )
    assert [line for line in tested if line not in readme] == []
