"""The chaos soak (`make soak`): every service several times over, faults in turn, steady
revocations and signed-in traffic, and the three figures that must be zero."""
