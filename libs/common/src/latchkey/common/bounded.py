"""A dict that keeps at most `size` entries, forgetting the oldest first: the caches of the
hot paths (verified tokens, opened sessions, decisions) must not grow with an attacker's input.

Insertion order is what dicts keep, so the oldest entry is found and dropped in O(1).
"""

from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class BoundedDict(dict[Key, Value], Generic[Key, Value]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def remember(self, key: Key, value: Value) -> None:
        """Keep `value` (nothing at all when the size is 0), making room if need be."""
        if self.size <= 0:
            return
        if key not in self and len(self) >= self.size:
            del self[next(iter(self))]
        self[key] = value
