"""A scriptable fake of the OpenAI chat-completions API, for tests; standard library only.

It listens on 127.0.0.1 (a free port) in a background thread and answers
`POST /v1/chat/completions` and `POST /chat/completions` from a script: the replies to
give, in order, or a function of the request body that picks each reply. Every request is
recorded (path, headers, body) so tests can assert on what the client really sent.

    with FakeOpenAI([RateLimited(retry_after="7"), ToolCalls([("lookup_policy", {...})])]) as fake:
        ChatOpenAI(base_url=f"{fake.url}/v1", api_key="k", max_retries=0)...
        assert "lookup_policy" in fake.tools_offered(0)

Anything the script did not foresee (an unknown path, a request after the last scripted
reply, a body that is not JSON) is answered with a 500 and listed in `problems`, so a
test can insist on exactly the conversation it scripted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

CHAT_COMPLETIONS_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
# When the fake answers; a fixed value keeps responses reproducible.
CREATED = 1_767_225_600


@dataclass(frozen=True)
class ToolCalls:
    """A 200 answer whose message calls tools (finish_reason "tool_calls"), with usage.

    Each call is `(name, arguments)`; a dict is sent as a JSON string as OpenAI does, a
    str is sent as it is (to imitate a model that writes broken JSON). Call ids are
    `call_<request number>_<position>`, both counted from 1.
    """

    calls: Sequence[tuple[str, Mapping[str, Any] | str]]
    prompt_tokens: int = 100
    completion_tokens: int = 20
    content: str | None = None


@dataclass(frozen=True)
class RateLimited:
    """A 429 with a Retry-After header (seconds) and OpenAI's error body.

    OpenAI also answers 429 when the account is out of credit: kind and code
    "insufficient_quota".
    """

    retry_after: str | None = "7"
    message: str = "Rate limit reached for requests. Please try again later."
    kind: str = "requests"
    code: str = "rate_limit_exceeded"


@dataclass(frozen=True)
class ServerError:
    """A 500 with OpenAI's error body."""

    message: str = "The server had an error while processing your request."


@dataclass(frozen=True)
class Unauthorized:
    """A 401 with OpenAI's error body for a wrong API key."""

    message: str = "Incorrect API key provided. You can find your API key in your account."


@dataclass(frozen=True)
class Garbage:
    """A 200 whose body is not JSON, whatever its content type claims."""

    body: str = "<html><body>upstream connect error</body></html>"
    content_type: str = "application/json"


@dataclass(frozen=True)
class EchoesCredentials:
    """An error that quotes the request's Authorization header back, as some providers and
    proxies do: in the message, and as a field of the error body.
    """

    status: int = 401
    kind: str = "invalid_request_error"


Reply = ToolCalls | RateLimited | ServerError | Unauthorized | Garbage | EchoesCredentials
Script = Sequence[Reply] | Callable[[dict[str, Any]], Reply]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; header names are lower-case."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, kind: str, code: str | None) -> _Answer:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return _Answer(status, json.dumps(body).encode())


def render(
    reply: Reply,
    number: int,
    request: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> _Answer:
    """The HTTP answer for one scripted reply to the `number`-th request (from 1), whose
    headers (names lower-case) an `EchoesCredentials` reply quotes.
    """
    match reply:
        case ToolCalls():
            tool_calls = [
                {
                    "id": f"call_{number}_{position}",
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": arguments
                        if isinstance(arguments, str)
                        else json.dumps(dict(arguments)),
                    },
                }
                for position, (name, arguments) in enumerate(reply.calls, start=1)
            ]
            body = {
                "id": f"chatcmpl-fake-{number}",
                "object": "chat.completion",
                "created": CREATED,
                "model": request.get("model", "fake-model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": reply.content,
                            "tool_calls": tool_calls,
                        },
                        "logprobs": None,
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            }
            return _Answer(200, json.dumps(body).encode())
        case RateLimited():
            answer = _error(429, reply.message, reply.kind, reply.code)
            if reply.retry_after is not None:
                answer.headers["Retry-After"] = reply.retry_after
            return answer
        case ServerError():
            return _error(500, reply.message, "server_error", None)
        case Unauthorized():
            return _error(401, reply.message, "invalid_request_error", "invalid_api_key")
        case Garbage():
            return _Answer(200, reply.body.encode(), {"Content-Type": reply.content_type})
        case EchoesCredentials():
            authorization = (headers or {}).get("authorization", "")
            body = {
                "error": {
                    "message": f"request refused; received Authorization: {authorization}",
                    "type": reply.kind,
                    "param": None,
                    "code": None,
                    "request_headers": {"authorization": authorization},
                }
            }
            return _Answer(reply.status, json.dumps(body).encode())


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close; HTTP/1.0 ends each connection after its answer.
    daemon_threads = True
    block_on_close = True

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        received = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.fake.answer(self.path, received, raw)
        self.send_response(answer.status)
        for name, value in ({"Content-Type": "application/json"} | answer.headers).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests`, not the access log."""


class FakeOpenAI:
    """The fake server; use it as a context manager so its thread and socket are closed."""

    def __init__(self, script: Script = ()) -> None:
        self._lock = threading.Lock()
        self._script: Script = script
        self._requests: list[RecordedRequest] = []
        self._problems: list[str] = []
        self._played = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting and inspection -------------------------------------------------------

    def play(self, script: Script) -> None:
        """Answer from now on by `script`; replies are counted from this call on."""
        with self._lock:
            self._script = script
            self._played = len(self._requests)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`; the OpenAI base URL is this plus `/v1`."""
        if self._server is None:
            raise RuntimeError("the fake OpenAI server is not running; use it in a with block")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    @property
    def problems(self) -> list[str]:
        """Requests the script did not foresee; empty when the conversation went as planned."""
        with self._lock:
            return list(self._problems)

    def tools_offered(self, index: int) -> list[str]:
        """Names of the tools offered in the `index`-th request (from 0)."""
        return [t["function"]["name"] for t in self.bodies[index].get("tools", [])]

    def messages_with_role(self, index: int, role: str) -> list[dict[str, Any]]:
        return [m for m in self.bodies[index]["messages"] if m["role"] == role]

    # -- serving --------------------------------------------------------------------------

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> _Answer:
        """Record the request and pick its reply (called on a handler thread)."""
        with self._lock:
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"unparsed": raw.decode(errors="replace")}
                self._problems.append(f"request {len(self._requests) + 1}: body is not JSON")
            if not isinstance(body, dict):
                body = {"unparsed": body}
            self._requests.append(RecordedRequest(path, headers, body))
            number = len(self._requests)
            if path not in CHAT_COMPLETIONS_PATHS:
                self._problems.append(f"request {number}: unexpected path {path}")
                return _error(404, f"no route for {path}", "invalid_request_error", None)
            script = self._script
            if callable(script):
                return render(script(body), number, body, headers)
            position = number - self._played - 1
            if position >= len(script):
                problem = f"request {number}: the script has only {len(script)} replies"
                self._problems.append(problem)
                return _error(500, f"fake OpenAI server: {problem}", "server_error", None)
            return render(script[position], number, body, headers)

    def __enter__(self) -> Self:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-openai-{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, close the socket and join every thread; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if thread.is_alive():
            raise RuntimeError("the fake OpenAI server thread did not stop")
