"""The test key ring: fixed keys, in the repository on purpose, for tests and recordings only.

Every test runs encrypted, as production does. The replay corpus in `tests/histories/`
is recorded with these keys, so it replays on any machine. Never use them for real claims.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.converter import DataConverter

from runtime.codec import encrypted_data_converter
from runtime.keyring import KeyRing, StaticKeyRing, write_ring_file

TEST_KEYS_FILE = Path(__file__).resolve().parent / "test-keys.json"
TEST_KEY_RING = KeyRing.parse(TEST_KEYS_FILE.read_text(encoding="utf-8"), str(TEST_KEYS_FILE))


def encrypted_test_converter() -> DataConverter:
    """The converter production builds, over the test keys."""
    return encrypted_data_converter(
        StaticKeyRing(TEST_KEY_RING, f"the test key ring {TEST_KEYS_FILE}")
    )


def write_test_ring(path: Path) -> Path:
    """The test keys as a ring file a worker or the CLI can read (mode 0600)."""
    write_ring_file(path, TEST_KEY_RING)
    return path
