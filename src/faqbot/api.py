"""create_app(settings): the HTTP routes and their public schemas. No ranking logic here."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faqbot import __version__
from faqbot.conversations import ContextRejected, Conversations, load_secret
from faqbot.errors import FaqbotError
from faqbot.retrieval import Answerer, AnswererHolder
from faqbot.settings import Settings
from faqbot.store import Store

log = logging.getLogger("faqbot")
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BODY = 64 * 1024
MAX_CONTEXT = 8192  # a context token can carry a pending question of up to 1000 characters
# a letter or digit of any script (str.isalnum()); the schema's pattern in Python's regex syntax,
# which is what schemathesis and Hypothesis read (an ECMA engine reads \w as ASCII only)
LETTER_OR_DIGIT = r"[^\W_]"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the limits are checked after trimming, below; the schema states them for clients and fuzzers
    question: str = Field(
        description="The visitor's question, 1-1000 characters after trimming, with at least one letter or digit.",
        json_schema_extra={"minLength": 1, "maxLength": 1000, "pattern": LETTER_OR_DIGIT},
    )
    context: str | None = Field(
        default=None,
        max_length=MAX_CONTEXT,
        description="The `context` the previous answer returned: the conversation's state, signed by the server. "
        "Send it back unchanged for follow-ups; one that is altered, foreign or expired is ignored with a notice.",
    )
    session_id: str | None = Field(
        default=None,
        description="The session_id an earlier answer returned. Sent back alone, it continues the conversation "
        "(its drug is kept on the server for FAQBOT_SESSION_TTL_S after the last question); `context` wins when both "
        "are sent. Only ids this server issued are kept; any other starts a new conversation.",
        json_schema_extra={"pattern": SESSION_RE.pattern},
    )
    k: int = Field(default=3, ge=1, le=10, description="How many passages to return (answer + alternatives).")
    drug: str | None = Field(default=None, description="Restrict to this drug's page (a doc_id from GET /drugs).")

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("question is empty; type a question about a medicine")
        if not (value.isascii() and value.isprintable()):  # printable ASCII (most questions) has nothing to remove
            if any("\ud800" <= ch <= "\udfff" for ch in value):  # a lone surrogate from a JSON escape is not text
                raise ValueError("question holds an invalid character (a lone UTF-16 surrogate); send plain Unicode text")
            value = _visible(value)
        if not any(ch.isalnum() for ch in value):
            raise ValueError(
                "question has no letter or digit (only invisible characters, control characters or punctuation); "
                "type a question about a medicine"
            )
        if len(value) > 1000:
            raise ValueError(f"question is {len(value)} characters; shorten it to at most 1000")
        return value

    @field_validator("k", mode="before")
    @classmethod
    def _k(cls, value: Any) -> Any:
        if isinstance(value, bool | str):  # lax ints would take "3" and true; JSON's integers are numbers
            raise ValueError("k must be a JSON number from 1 to 10, not text or true/false")
        return value

    @field_validator("session_id")
    @classmethod
    def _session(cls, value: str | None) -> str | None:
        if value is not None and not SESSION_RE.fullmatch(value):  # match() would let a trailing newline through
            raise ValueError("session_id must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'; use the one /ask returned")
        return value


def _visible(text: str) -> str:
    """text without invisible format characters (zero-width spaces, BOM, direction marks, soft hyphens),
    with control characters (NUL, ESC, ...) as spaces: what reaches the log and the ranking."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        kept.append(" " if category == "Cc" else ch)
    return "".join(kept).strip()


class Passage(BaseModel):
    chunk_id: str
    doc_id: str
    title: str
    kind: Literal["faq", "section"]
    section: str
    question: str | None
    text: str
    highlights: list[list[int]]
    score: float = Field(ge=0, le=1)
    url: str
    source_path: str
    last_modified: str
    is_banned: bool


class DrugRef(BaseModel):
    doc_id: str
    title: str
    matched: str
    how: Literal["title", "alias", "fuzzy", "context", "filter"]


class SectionLink(BaseModel):
    title: str
    url: str


class Covers(BaseModel):
    """What the drug's page does cover, when it doesn't say what was asked: its main sections, linked."""

    doc_id: str
    title: str
    url: str
    sections: list[SectionLink]


class Choice(BaseModel):
    doc_id: str = Field(description="Send this as `drug`, or its title as the question, with the returned `context`.")
    title: str
    brands: list[str] = Field(description="Up to two brand names, to tell the choices apart.")
    url: str


class Clarify(BaseModel):
    question: str = Field(description='"Which medicine do you mean?"')
    choices: list[Choice] = Field(description="Up to 5 drugs whose pages best answer the question, best first.")


class AskResponse(BaseModel):
    query_id: str
    session_id: str
    context: str = Field(description="The conversation's state, signed; send it back with the next question.")
    answered: bool
    answer: Passage | None
    alternatives: list[Passage]
    drug: DrugRef | None
    message: str | None
    covers: Covers | None = Field(default=None, description="Set when the drug's page doesn't say: what it does cover.")
    notices: list[str]
    clarify: Clarify | None = Field(
        default=None,
        description="Present when the question names no medicine: the drugs to choose from. The question is kept "
        "in `context`; the next question that names or picks one of them answers it; any other question drops it.",
    )
    clarified_question: str | None = Field(
        default=None, description="When this question named the drug a clarifying turn asked for: the earlier question answered."
    )
    index_version: str
    took_ms: float


class Drug(BaseModel):
    doc_id: str
    title: str
    names: list[str]
    is_banned: bool
    url: str


class Problem(BaseModel):
    detail: str = Field(description="What was wrong with the request and what to change.")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer: all carry a one-line `detail`."""
    described = {
        404: "Unknown id",
        413: "Request body too large",
        415: "Body not sent as uncompressed JSON",
        422: "Invalid request",
        503: "No index has been built yet",
    }
    return {code: {"model": Problem, "description": described[code]} for code in codes}


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    helpful: bool = Field(strict=True)
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackResponse(BaseModel):
    id: int
    query_id: str
    helpful: bool


class Health(BaseModel):
    status: str
    index_version: str | None
    chunks: int
    drugs: int
    model: str | None
    version: str
    error: str | None = None


class BodyLimit:
    """Refuse bodies over MAX_BODY with 413, and bodies that are not plain JSON with 415.

    Never holds more than MAX_BODY of a body in memory. The body is read here, before the app
    sees it: an error raised from inside the app's own reading would reach FastAPI wrapped
    (BaseHTTPMiddleware) and come out as a 400 parse error. The body is kept in the scope, so
    that a parse error can say what exactly is wrong with it.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(send)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            problem = _media_problem(headers.get(b"content-type"), headers.get(b"content-encoding"))
            if problem:
                await JSONResponse({"detail": problem}, status_code=415)({"type": "http"}, _empty_receive, send)
                return
        body = bytearray()
        more = True
        while more:  # a chunked body declares no length: count what arrives
            message = await receive()
            if message["type"] != "http.request":
                # the client went away (or was cut off) mid-body: answer anyway, so that no middleware
                # finds the app returned nothing; the server drops a response to a closed connection
                await JSONResponse({"detail": "the request body did not arrive in full; send it again"},
                                   status_code=400)({"type": "http"}, _empty_receive, send)  # fmt: skip
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._reject(send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        scope["faqbot.body"] = bytes(body)
        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body is larger than {self.limit // 1024} KB; send a shorter question"}, status_code=413
        )
        await response({"type": "http"}, _empty_receive, send)


class SecurityHeaders:
    """The security headers on every response, the CSP on all but the API docs (Swagger UI starts itself with an
    inline script); a header the app set itself is kept. Plain ASGI: starlette's @app.middleware("http") costs
    every request a task group and two memory streams."""

    COMMON: tuple[tuple[bytes, bytes], ...] = (
        (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
    )  # fmt: skip
    ALL = ((b"content-security-policy", CSP.encode("latin-1")), *COMMON)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = self.COMMON if scope["path"].startswith(("/docs", "/redoc")) else self.ALL

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in wanted if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class HeadAsGet:
    """HEAD is answered wherever GET is (monitoring tools send HEAD): the GET response without its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


def _media_problem(content_type: bytes | None, content_encoding: bytes | None) -> str | None:
    """Why a request body is not plain JSON, in words that say what to send instead; None when it is."""
    encoding = (content_encoding or b"").decode("latin-1").strip().lower()
    if encoding not in ("", "identity"):
        return (f"Content-Encoding '{encoding[:40]}' is not supported; send the JSON body uncompressed, "
                "without a Content-Encoding header")  # fmt: skip
    if content_type is None:
        return None  # FastAPI reads a body without a Content-Type as JSON
    media = content_type.decode("latin-1").split(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return None
    return (f"the body was sent as '{media[:60] or 'no type'}'; send it as JSON with the header "
            'Content-Type: application/json, such as {"question": "..."}')  # fmt: skip


def _json_problem(raw: bytes | None) -> str:
    """What is wrong with a body FastAPI could not parse, as one line that says what to change."""
    example = 'send a JSON object such as {"question": "..."}'
    try:
        text = (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        return f"body: is not valid UTF-8; {example}, encoded as UTF-8"
    try:
        json.loads(text)
    except RecursionError:
        return f"body: the JSON is nested too deeply; {example}"
    except ValueError as exc:
        if "digits" in str(exc):  # Python refuses integers of over 4300 digits
            return "body: a number in it has more than 4300 digits; send numbers of ordinary size"
    return f"body: is not valid JSON; {example}"


MAX_PROBLEMS = 5


def _describe(errors: list[Any]) -> str:
    """Validation errors as one sentence that says what to change; at most MAX_PROBLEMS, each one short."""
    parts = []
    for error in errors[:MAX_PROBLEMS]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        if len(where) > 60:
            where = where[:60] + "…"
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")[:300]
        if error.get("type") == "extra_forbidden":
            message = "is not a known field; remove it"
        elif error.get("type") == "missing":
            message = "is required"
        elif error.get("type") == "json_invalid":
            message = 'is not valid JSON; send a JSON object such as {"question": "..."}'
        parts.append(f"{where}: {message}")
    if len(errors) > MAX_PROBLEMS:
        parts.append(f"and {len(errors) - MAX_PROBLEMS} more problems like these")
    return "; ".join(parts) or "invalid request"


def create_app(settings: Settings | None = None, holder: AnswererHolder | None = None) -> FastAPI:
    """The faqbot web application over the index in settings.index_dir."""
    settings = settings or Settings()
    holder = holder or AnswererHolder(settings)
    store = Store(settings.db)
    conversations = Conversations(load_secret(settings.secret, settings.secret_file), settings.session_ttl_s)

    async def purge_old_log() -> None:
        """Delete questions and feedback older than FAQBOT_LOG_DAYS every purge interval."""
        while True:
            await asyncio.sleep(settings.log_purge_interval_s)
            try:
                gone = await asyncio.to_thread(store.purge, settings.log_days)
                if gone:
                    log.info("deleted %d query log and feedback rows older than %d days", gone, settings.log_days)
            except Exception:  # a locked or full disk must not stop the server; the next round tries again
                log.exception("could not purge the query log")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            holder.get()  # load the index and the model once, before the first request
        except FaqbotError as exc:
            log.warning("faqbot starts without an index: %s", exc)
        store.purge(settings.log_days)  # before the first request: nothing older than the limit is ever shown
        purging = asyncio.create_task(purge_old_log())
        yield
        purging.cancel()
        store.close()

    # FastAPIOffline serves the Swagger UI and ReDoc files itself: no CDN, also for /docs
    app = FastAPIOffline(
        title="faqbot",
        version=__version__,
        description="Answers medicine questions with verbatim, cited passages from drug pages, or says it has no answer.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.holder = holder
    app.state.store = store

    def answerer() -> Answerer:
        try:
            return holder.get()
        except FaqbotError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc

    async def current_answerer() -> Answerer:
        """answerer(), without a thread hop while no new build needs looking for (nearly every request)."""
        ready = holder.ready()
        return ready if ready is not None else await run_in_threadpool(answerer)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _describe(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's words for bytes that are not UTF-8, nest too deep or hold a huge number: say which
            return JSONResponse({"detail": _json_problem(request.scope.get("faqbot.body"))}, status_code=422)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    app.add_middleware(BodyLimit)  # added first, so innermost: its 413 gets the headers below (and CORS)

    app.add_middleware(SecurityHeaders)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    app.add_middleware(HeadAsGet)  # outermost: HEAD gets exactly GET's status and headers

    @app.post(
        "/ask",
        response_model=AskResponse,
        summary="Answer a question with a cited passage, or abstain",
        responses=_errors(413, 415, 422, 503),
    )
    async def ask(body: AskRequest, ans: Answerer = Depends(current_answerer)) -> dict[str, Any]:
        # the whole answer in one thread hop: a plain def route takes three (its dependency, itself, the response check)
        return await run_in_threadpool(_answer, body, ans)

    def _answer(body: AskRequest, ans: Answerer) -> dict[str, Any]:
        if body.drug is not None and body.drug not in ans.index.drugs:
            raise HTTPException(
                status_code=422, detail=f"drug: unknown doc_id {body.drug[:80]!r}; use one of the doc_ids from GET /drugs"
            )
        notices: list[str] = []
        session_id, context_drug, pending = _conversation(body, notices)
        drug = body.drug
        if drug is not None:
            # the words typed win over the drug field: a dose of the wrong drug is the worst answer there is
            named = {m.doc_id: ans.index.drugs[m.doc_id].title for m in ans.analyser.matcher.find(body.question) if m.doc_id}
            if set(named) - {drug}:
                if drug not in named:
                    titles = " and ".join(named.values())
                    notices.append(
                        f"Your question names {titles}, but the drug field asked for {ans.index.drugs[drug].title}; "
                        f"this answer follows your question. Leave out the drug field to ask about another drug."
                    )
                drug = None
        result = ans.ask(body.question, session_id=None, k=body.k, drug=drug, context_drug=context_drug, pending=pending)
        result["session_id"] = session_id
        result["notices"] = result["notices"] + notices
        conversation_drug = result["drug"]["doc_id"] if result["drug"] else context_drug
        result["context"] = conversations.issue(session_id, conversation_drug, pending=result.get("_pending"))
        try:  # a pick ("lisinopril") is logged as the question it answered; the session's drug goes to the store
            # too, for clients that send back only session_id
            store.log_query(
                result, result.get("clarified_question") or body.question, session_drug=conversation_drug,
                session_ttl_s=settings.session_ttl_s,
            )  # fmt: skip
        except Exception:  # the answer matters more than its log line
            log.exception("could not log query %s", result["query_id"])
        return {key: value for key, value in result.items() if not key.startswith("_")}

    def _conversation(body: AskRequest, notices: list[str]) -> tuple[str, str | None, str | None]:
        """The session id, drug and pending question this question continues; anything the server did not issue starts afresh."""
        if body.context is not None:
            try:
                context = conversations.verify(body.context)
                return context.session_id, context.drug, context.pending
            except ContextRejected as exc:
                notices.append(str(exc))
        if body.session_id is not None:
            if conversations.issued(body.session_id):
                # a context that was sent but not trusted says "answered on its own": the store is not asked then
                return body.session_id, None if body.context is not None else _session_drug(body.session_id, notices), None
            if body.context is None:
                notices.append(
                    "This session_id was not issued by this server, so this question starts a new conversation; "
                    "send back the session_id and context that /ask returns."
                )
        return conversations.new_session_id(), None, None

    def _session_drug(session_id: str, notices: list[str]) -> str | None:
        """The drug the store holds for a server-issued session_id (shared by every worker and replica)."""
        try:
            return store.get_session(session_id)
        except Exception:
            log.exception("could not read session %s", session_id[:8])
            notices.append("This conversation's drug could not be looked up just now, so this question was answered "
                           "on its own; name the drug, or send back the context the last answer returned.")  # fmt: skip
            return None

    @app.get(
        "/drugs", response_model=list[Drug], summary="The drugs faqbot has pages for, with their names", responses=_errors(503)
    )
    def drugs(ans: Answerer = Depends(answerer)) -> list[dict[str, Any]]:
        return ans.drug_list

    @app.post(
        "/feedback",
        response_model=FeedbackResponse,
        summary="Mark an answer helpful or not helpful (a later click on the same answer replaces the earlier one)",
        responses=_errors(404, 413, 415, 422),
    )
    def feedback(body: FeedbackRequest) -> dict[str, Any]:
        try:
            known = store.has_query(body.query_id)
            row = store.add_feedback(body.query_id, body.helpful, body.comment) if known else 0
        except FaqbotError as exc:  # a database that cannot be reached: say so; the client can send it again
            log.error("could not store feedback: %s", exc)
            raise HTTPException(status_code=503, detail="the feedback could not be stored just now; send it again") from exc
        if not known:
            raise HTTPException(
                status_code=404, detail=f"unknown query_id '{body.query_id}'; send the query_id that /ask returned"
            )
        return {"id": row, "query_id": body.query_id, "helpful": body.helpful}

    @app.get("/healthz", response_model=Health, summary="Index version, size and model")
    def healthz() -> dict[str, Any]:
        try:
            ans = holder.get()
        except FaqbotError as exc:
            return {"status": "no index", "index_version": None, "chunks": 0, "drugs": 0, "model": None, "version": __version__,
                    "error": str(exc)}  # fmt: skip
        return {
            "status": "ok",
            "index_version": ans.index.version,
            "chunks": len(ans.index.chunks),
            "drugs": len(ans.index.drugs),
            "model": ans.index.manifest["model"]["id"],
            "version": __version__,
            "error": holder.last_error,
        }

    from faqbot.web import add_web_routes

    add_web_routes(app, answerer, store)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from FAQBOT_* variables."""
    return create_app(Settings())
