"""`make bench`: Latchkey measured against the bare framework and the designs users pick instead."""
