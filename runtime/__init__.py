"""Process-level plumbing shared by the worker, the starter, the CLI and the tests."""
