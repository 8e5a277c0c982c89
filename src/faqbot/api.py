"""create_app(settings): the HTTP routes and their public schemas. No ranking logic here."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faqbot import __version__
from faqbot.errors import FaqbotError
from faqbot.retrieval import Answerer, AnswererHolder
from faqbot.settings import Settings
from faqbot.store import Store

log = logging.getLogger("faqbot")
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BODY = 64 * 1024
# one character that str.strip() keeps, spelled out: JSON Schema's \s (ECMA) and Python's differ
NOT_BLANK = r"[^\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the limits are checked after trimming, below; the schema states them for clients and fuzzers
    question: str = Field(
        description="The visitor's question, 1-1000 characters after trimming.",
        json_schema_extra={"minLength": 1, "maxLength": 1000, "pattern": NOT_BLANK},
    )
    session_id: str | None = Field(
        default=None,
        description="Conversation id (at most 64 of A-Z a-z 0-9 _ -) for follow-ups.",
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
        if any("\ud800" <= ch <= "\udfff" for ch in value):  # a lone surrogate from a JSON escape is not text
            raise ValueError("question holds an invalid character (a lone UTF-16 surrogate); send plain Unicode text")
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


class AskResponse(BaseModel):
    query_id: str
    session_id: str
    answered: bool
    answer: Passage | None
    alternatives: list[Passage]
    drug: DrugRef | None
    message: str | None
    notices: list[str]
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
    """Refuse bodies over MAX_BODY with 413; never holds more than MAX_BODY of a body in memory.

    The body is read here, before the app sees it: an error raised from inside the app's own
    reading would reach FastAPI wrapped (BaseHTTPMiddleware) and come out as a 400 parse error.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(send)
            return
        body = bytearray()
        more = True
        while more:  # a chunked body declares no length: count what arrives
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its request was complete
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

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body is larger than {self.limit // 1024} KB; send a shorter question"}, status_code=413
        )
        await response({"type": "http"}, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


def _describe(errors: list[Any]) -> str:
    """Validation errors as one sentence that says what to change."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "is not a known field; remove it"
        elif error.get("type") == "missing":
            message = "is required"
        elif error.get("type") == "json_invalid":
            message = 'is not valid JSON; send a JSON object such as {"question": "..."}'
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "invalid request"


def create_app(settings: Settings | None = None, holder: AnswererHolder | None = None) -> FastAPI:
    """The faqbot web application over the index in settings.index_dir."""
    settings = settings or Settings()
    holder = holder or AnswererHolder(settings)
    store = Store(settings.db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            holder.get()  # load the index and the model once, before the first request
        except FaqbotError as exc:
            log.warning("faqbot starts without an index: %s", exc)
        yield
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

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _describe(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's words for bytes that are not UTF-8 or nest too deep: malformed JSON, like any other
            detail = 'body: is not valid UTF-8 JSON; send a JSON object such as {"question": "..."}'
            return JSONResponse({"detail": detail}, status_code=422)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    app.add_middleware(BodyLimit)  # added first, so innermost: its 413 gets the headers below (and CORS)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        if not request.url.path.startswith(("/docs", "/redoc")):  # Swagger UI starts itself with an inline script
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )

    @app.post(
        "/ask",
        response_model=AskResponse,
        summary="Answer a question with a cited passage, or abstain",
        responses=_errors(413, 422, 503),
    )
    def ask(body: AskRequest, ans: Answerer = Depends(answerer)) -> dict[str, Any]:
        if body.drug is not None and body.drug not in ans.index.drugs:
            raise HTTPException(
                status_code=422, detail=f"drug: unknown doc_id {body.drug[:80]!r}; use one of the doc_ids from GET /drugs"
            )
        result = ans.ask(body.question, session_id=body.session_id, k=body.k, drug=body.drug)
        try:
            store.log_query(result, body.question)
        except Exception:  # the answer matters more than its log line
            log.exception("could not log query %s", result["query_id"])
        return {key: value for key, value in result.items() if not key.startswith("_")}

    @app.get(
        "/drugs", response_model=list[Drug], summary="The drugs faqbot has pages for, with their names", responses=_errors(503)
    )
    def drugs(ans: Answerer = Depends(answerer)) -> list[dict[str, Any]]:
        return ans.drug_list

    @app.post(
        "/feedback",
        response_model=FeedbackResponse,
        summary="Mark an answer helpful or not helpful",
        responses=_errors(404, 413, 422),
    )
    def feedback(body: FeedbackRequest) -> dict[str, Any]:
        if not store.has_query(body.query_id):
            raise HTTPException(
                status_code=404, detail=f"unknown query_id '{body.query_id}'; send the query_id that /ask returned"
            )
        row = store.add_feedback(body.query_id, body.helpful, body.comment)
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
