"""The live token-state view every instance keeps: revocations reach it in milliseconds."""
