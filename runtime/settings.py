"""Settings from the environment, read in one place so every entry point agrees.

Temporal's own connection settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key)
are not here: `runtime.client.build_client` reads them with Temporal's env config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runtime.errors import UserFacingError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = PROJECT_ROOT / "examples"

DEFAULT_TASK_QUEUE = "claim-review"
# The reviewer console signs what signed-in people do with its own key, kept in the data
# directory; the worker trusts the public half for every review it starts.
CONSOLE_SIGNING_KEY_FILE = "console-signing.key"
CONSOLE_PUBLIC_KEY_FILE = "console-signing.pub"
# The key ring that encrypts every payload Temporal stores (see runtime.keyring).
KEYS_FILE = "claims-keys.json"
WORKFLOW_TYPE = "ClaimReviewWorkflow"


class SettingsError(UserFacingError):
    """A setting that cannot work, with the variable to change named in the message."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a port number; use 1-65535") from None
    if not 0 <= port < 65536:
        raise SettingsError(f"{name}={raw!r} is out of range; use 1-65535")
    return port


@dataclass(frozen=True)
class LlmConfig:
    """The model as configured: CLAIMS_LLM and the variables it may need, read here only.

    Checked where a model is built (`activities.llm.LlmSettings.from_config`, when the
    worker starts), so a command that never calls a model is not refused for them.
    """

    spec: str = "offline"
    offline_latency_ms: str = "0"
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LlmConfig:
        return cls(
            spec=env.get("CLAIMS_LLM", "offline"),
            offline_latency_ms=env.get("CLAIMS_OFFLINE_LATENCY_MS", "0"),
            api_key=env.get("OPENAI_API_KEY") or None,
            base_url=env.get("OPENAI_BASE_URL") or None,
        )


@dataclass(frozen=True)
class Settings:
    task_queue: str
    data_dir: Path
    temporal_db: Path
    server_ip: str
    server_port: int
    ui_port: int
    records_file: Path
    records_db: Path
    approvers_file: Path
    ledger_db: Path
    sample_claims_dir: Path
    llm: LlmConfig
    log_format: str
    log_level: str
    metrics_port: int | None = None
    # The console's public key, trusted by the reviews this worker starts, if it exists.
    console_public_key: Path | None = None
    # The encryption key ring (CLAIMS_KEYS_FILE); see runtime.keyring.
    keys_file: Path = PROJECT_ROOT / ".temporal" / KEYS_FILE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("CLAIMS_DATA_DIR", PROJECT_ROOT / ".temporal"))
        log_format = env.get("CLAIMS_LOG_FORMAT", "auto")
        if log_format not in {"auto", "json", "console"}:
            raise SettingsError(
                f"CLAIMS_LOG_FORMAT={log_format!r} is not known; use auto, json or console"
            )
        return cls(
            task_queue=env.get("CLAIMS_TASK_QUEUE", DEFAULT_TASK_QUEUE),
            data_dir=data_dir,
            temporal_db=Path(env.get("CLAIMS_TEMPORAL_DB", data_dir / "claims.db")),
            server_ip=env.get("CLAIMS_SERVER_IP", "127.0.0.1"),
            server_port=_port(env, "CLAIMS_SERVER_PORT", 7233),
            ui_port=_port(env, "CLAIMS_UI_PORT", 8233),
            records_file=Path(env.get("CLAIMS_RECORDS_FILE", EXAMPLES_DIR / "records.json")),
            records_db=Path(env.get("CLAIMS_RECORDS_DB", data_dir / "records.db")),
            approvers_file=Path(env.get("CLAIMS_APPROVERS_FILE", EXAMPLES_DIR / "approvers.toml")),
            ledger_db=Path(env.get("CLAIMS_LEDGER_DB", data_dir / "ledger.db")),
            sample_claims_dir=Path(env.get("CLAIMS_SAMPLES_DIR", EXAMPLES_DIR / "claims")),
            llm=LlmConfig.from_env(env),
            log_format=log_format,
            log_level=env.get("CLAIMS_LOG_LEVEL", "INFO").upper(),
            metrics_port=_port(env, "CLAIMS_METRICS_PORT", 0) or None,
            console_public_key=data_dir / CONSOLE_PUBLIC_KEY_FILE,
            keys_file=Path(env.get("CLAIMS_KEYS_FILE") or data_dir / KEYS_FILE),
        )
