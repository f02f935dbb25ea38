"""The typed app keys every service stores the shared pieces under (each service's own keys
are in its own `appkeys.py`)."""

from latchkey.common.amqp import BROKER
from latchkey.common.db import POOL
from latchkey.common.guard import ADMISSION, CREDENTIALS
from latchkey.common.tokenstate.runtime import TOKEN_STATE
from latchkey.common.verification import VERIFIER

__all__ = ["ADMISSION", "BROKER", "CREDENTIALS", "POOL", "TOKEN_STATE", "VERIFIER"]
