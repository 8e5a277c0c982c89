"""The chat page, the rendered drug pages and the editors' report (Jinja2). No ranking logic."""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from faqbot.errors import FaqbotError
from faqbot.index import Index
from faqbot.pages import slugify
from faqbot.report import TREND_WORDS, VectorCache, build_report, chart, since, to_csv
from faqbot.retrieval import Answerer, open_answerer
from faqbot.store import Store

# templates and static files ship inside the package (faqbot.webui is the repo's web/ folder)
WEB_PACKAGE = "faqbot.webui"
# raw HTML in pages is shown as text, never executed: html=False escapes it
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> Markup:
    """Markdown to HTML with raw HTML escaped and unsafe link schemes refused."""
    return Markup(_markdown.render(text))


def page_outline(index: Index, doc_id: str) -> dict[str, Any]:
    """The page as the index holds it: blocks (heading level, title, anchor, html) and FAQs, anchors as citations use them.

    Rendered from the build that answers, never from the file on disk, so a citation and the page
    it links to always come from the same version.
    """
    blocks: list[dict[str, Any]] = []
    faqs: list[dict[str, Any]] = []
    shown: tuple[str, ...] = ()
    texts: dict[str, list[str]] = {}
    for row in index.chunk_rows.get(doc_id, []):
        chunk = index.chunks[int(row)]
        if chunk.kind == "faq":
            faqs.append({"question": chunk.question, "anchor": chunk.anchor, "text": [chunk.text]})
            continue
        if chunk.part > 1 and chunk.anchor in texts:  # a later part of a long section
            texts[chunk.anchor].append(chunk.text)
            continue
        path = chunk.heading_path
        for depth in range(len(path) - 1):
            if shown[: depth + 1] != path[: depth + 1]:
                blocks.append({"level": depth + 2, "title": path[depth], "anchor": slugify(path[depth]), "text": []})
        texts[chunk.anchor] = [chunk.text]
        blocks.append({"level": len(path) + 1, "title": path[-1], "anchor": chunk.anchor, "text": texts[chunk.anchor]})
        shown = path
    for item in (*blocks, *faqs):
        item["html"] = render_markdown("\n\n".join(item.pop("text")))
    return {"blocks": blocks, "faqs": faqs}


def add_web_routes(app: FastAPI, answerer: Callable[[], Answerer], store: Store) -> None:
    """Mount the static files and the HTML routes on app."""
    environment = Environment(loader=PackageLoader(WEB_PACKAGE, "templates"), autoescape=select_autoescape(["html"]))
    templates = Jinja2Templates(env=environment)
    app.mount("/static", StaticFiles(packages=[(WEB_PACKAGE, "static")]), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {})

    @app.get("/pages/{doc_id}", response_class=HTMLResponse, summary="A drug page rendered as HTML, with section anchors")
    def page(request: Request, doc_id: str) -> HTMLResponse:
        ans = answerer()
        drug = ans.index.drugs.get(doc_id)  # only ids of indexed pages: no path from the request reaches the disk
        if drug is None:
            raise HTTPException(status_code=404, detail=f"no page '{doc_id[:80]}'; see GET /drugs for the pages there are")
        outline = page_outline(ans.index, doc_id)
        return templates.TemplateResponse(request, "page.html", {**outline, "page": drug, "version": ans.index.version})

    vectors = VectorCache()  # question vectors kept between reports: a report asked for again embeds only new questions

    def editors_report(request: Request) -> dict[str, Any]:
        check_report_access(request, request.app.state.settings.report_token)
        return make_report(store, request.app.state.settings, request.app.state.holder, vectors)

    @app.get("/report", response_class=HTMLResponse, include_in_schema=False)
    def report(request: Request) -> HTMLResponse:
        data = editors_report(request)
        return templates.TemplateResponse(request, "report.html", {"report": data, "chart": chart(data), "trend_words": TREND_WORDS})

    @app.get("/report.json", include_in_schema=False)
    def report_json(request: Request) -> JSONResponse:
        return JSONResponse(editors_report(request))

    @app.get("/report.csv", include_in_schema=False)
    def report_csv(request: Request) -> Response:
        data = editors_report(request)
        name = f"faqbot-report-{data['generated_at'][:10]}.csv"
        return Response(to_csv(data), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def make_report(store: Store, settings: Any, holder: Any = None, vectors: VectorCache | None = None) -> dict[str, Any]:
    """The editors' report over the log, clustered with the model the index uses (served and printed alike)."""
    import time

    from faqbot.embedding import load_embedder

    now = time.time()
    index = find = None
    embedder: Any = None
    try:
        answerer = holder.get() if holder is not None else open_answerer(settings)
        index, find, embedder = answerer.index, answerer.analyser.matcher.find, answerer.embedder
    except FaqbotError:  # no index yet: the questions are still grouped, only the sections cannot be named
        try:
            embedder = holder.embedder if holder is not None else load_embedder(settings.model, settings.index_dir / "models")
        except Exception:  # no model either: every wording is its own group
            embedder = None
    embedder = getattr(embedder, "inner", embedder)  # the query cache is for visitors' questions
    return build_report(store.report_rows(since(now)), now=now, log_days=settings.log_days, embedder=embedder,
                        index=index, find=find, cache=vectors)  # fmt: skip


def _given_token(authorization: str) -> str | None:
    """The token in an Authorization header: `Bearer <token>`, or Basic with the token as the password."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def check_report_access(request: Request, expected: str | None) -> None:
    """Visitors' questions and comments are health data: only editors may read them.

    With FAQBOT_REPORT_TOKEN set, the token must come in the Authorization header (a browser asks
    for it as a password); without one, only clients on this machine get the report.
    """
    if expected:
        given = _given_token(request.headers.get("authorization", ""))
        if given is None or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            hint = (
                " (a token in the address is no longer accepted: it ends up in logs and browser history)"
                if "token" in request.query_params
                else ""
            )
            raise HTTPException(
                status_code=401,
                detail="the report needs the editors' token: send it as 'Authorization: Bearer <token>', "
                f"or as the password when the browser asks{hint}",
                headers={"WWW-Authenticate": 'Basic realm="faqbot report", charset="UTF-8"'},
            )
        return
    client = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(client).is_loopback
    except ValueError:
        local = False
    # a reverse proxy on this machine makes every visitor look local: what it forwards is not
    if not local or "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        raise HTTPException(
            status_code=403,
            detail="the report shows visitors' questions, so without FAQBOT_REPORT_TOKEN it is served only to this "
            "machine; set FAQBOT_REPORT_TOKEN on the server to read it from elsewhere",
        )
