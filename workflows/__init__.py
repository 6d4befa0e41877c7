"""Deterministic code only: the claim-review state machine and its state schema."""
