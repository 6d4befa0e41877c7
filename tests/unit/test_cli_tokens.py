"""`claims tokens new|list|revoke`: the secret printed once, never listed, refusals plain."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from console.api_tokens import TokenStore, tokens_file


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["tokens", *args], env={"CLAIMS_DATA_DIR": str(tmp_path)})
    return result.exit_code, result.stdout, result.stderr


def test_new_prints_the_token_alone_on_stdout_and_list_never_shows_it(tmp_path: Path) -> None:
    """A script captures stdout; the file (0600) and the list hold no secret."""
    code, out, err = _run(tmp_path, "new", "portal")
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("cra_")
    assert "printed once" in err
    path = tokens_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TokenStore(path).authenticate(secret) is not None
    code, out, _ = _run(tmp_path, "list")
    assert code == 0
    assert "portal" in out
    assert "claims:write claims:read" in out
    assert secret not in out
    assert secret not in path.read_text()


def test_scopes_are_chosen_with_scope_and_checked(tmp_path: Path) -> None:
    """--scope repeats; an unknown scope is refused naming the known ones."""
    code, _, err = _run(
        tmp_path, "new", "auditor", "--scope", "claims:read", "--scope", "claims:read-personal"
    )
    assert code == 0, err
    code, out, _ = _run(tmp_path, "list")
    assert "claims:read claims:read-personal" in out
    code, out, err = _run(tmp_path, "new", "other", "--scope", "claims:all")
    assert code == 1
    assert out == ""
    assert "is not a scope" in err


def test_revoke_makes_the_token_worthless_and_shows_in_the_list(tmp_path: Path) -> None:
    """After revoke the console refuses the token; the list marks it revoked."""
    _code, out, _ = _run(tmp_path, "new", "portal")
    secret = out.strip()
    code, out, _ = _run(tmp_path, "revoke", "portal")
    assert code == 0
    assert "revoked" in out
    assert TokenStore(tokens_file(tmp_path)).authenticate(secret) is None
    assert "revoked" in _run(tmp_path, "list")[1]


def test_wrong_input_is_refused_without_a_traceback(tmp_path: Path) -> None:
    """A bad name, a name in use, an unknown token, a broken file: one line each, exit 1."""
    assert _run(tmp_path, "list")[1].startswith("no API tokens yet")
    assert _run(tmp_path, "new", "Bad Name\x1b[2J")[0] == 1
    assert _run(tmp_path, "new", "portal")[0] == 0
    code, _, err = _run(tmp_path, "new", "portal")
    assert code == 1
    assert "revoke it first" in err
    code, _, err = _run(tmp_path, "revoke", "nobody")
    assert code == 1
    assert "no token named" in err
    tokens_file(tmp_path).write_text("[]")
    code, _, err = _run(tmp_path, "list")
    assert code == 1
    assert "Traceback" not in err
    assert "tokens" in err
