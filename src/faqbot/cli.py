"""The faqbot command. The only place that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from faqbot.errors import FaqbotError
from faqbot.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for key in ("data_dir", "index_dir", "db", "host", "port"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"FAQBOT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise FaqbotError(f"bad setting: {problems}; fix the flag or environment variable") from exc


def cmd_build(args: argparse.Namespace) -> int:
    from faqbot.embedding import load_embedder, model_id_for
    from faqbot.index import build_index

    settings = _settings(args)
    report = build_index(
        settings.data_dir,
        settings.index_dir,
        lambda: load_embedder(settings.model, settings.index_dir / "models"),
        model_id_for(settings.model),
        full=args.full,
        progress=sys.stderr.isatty(),
    )
    for error in report.skipped:
        print(f"skipped {error.path}: {error.reason}", file=sys.stderr)
    for warning in report.warnings:
        print(f"warning {warning}", file=sys.stderr)
    if report.up_to_date:
        print(f"index is up to date: {len(report.indexed)} pages, {report.chunks} passages (version {report.version})")
    else:
        print(
            f"indexed {len(report.indexed)} pages into {report.chunks} passages in {report.seconds:.1f}s "
            f"({report.embedded} texts embedded, {report.reused} reused); version {report.version}"
        )
    if report.skipped:
        print(f"{len(report.skipped)} page(s) skipped; fix them and run faqbot build again", file=sys.stderr)
        return 1
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from faqbot.retrieval import open_answerer

    question = args.question.strip()
    if not question or len(question) > 1000:
        raise FaqbotError("the question must be 1-1000 characters; type a question about a medicine")
    settings = _settings(args)
    answerer = open_answerer(settings)
    result = answerer.ask(question, k=args.k)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=2, ensure_ascii=False))
        return 0
    drug = result.get("drug")
    if drug:
        print(f"drug: {drug['title']} (matched '{drug['matched']}' by {drug['how']})")
    if result["answered"]:
        answer = result["answer"]
        where = answer["section"] if answer["kind"] == "section" else f"FAQ: {answer['question']}"
        print(f"{answer['title']} › {where}  [score {answer['score']:.2f}]")
        print(answer["text"])
        print(f"source: {answer['url']} (last modified {answer['last_modified']})")
        for notice in result["notices"]:
            print(f"notice: {notice}")
    else:
        print(result["message"])
    for alt in result["alternatives"]:
        print(f"  also: {alt['title']} › {alt['section'] if alt['kind'] == 'section' else alt['question']} [{alt['score']:.2f}]")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from faqbot.api import create_app
    from faqbot.index import FORMAT_VERSION, current_build, read_manifest
    from faqbot.serving import is_loopback, run
    from faqbot.store import Store

    settings = _settings(args)
    if not settings.report_token and not is_loopback(settings.host):
        raise FaqbotError(
            f"refusing to serve on {settings.host} without FAQBOT_REPORT_TOKEN: /report shows visitors' questions; "
            "set FAQBOT_REPORT_TOKEN to a long random value (openssl rand -hex 32), or serve on --host 127.0.0.1"
        )
    # an unreachable database is one line now, not after a build nor an error in every worker
    Store(settings.db).close()
    manifest = read_manifest(settings.index_dir) if current_build(settings.index_dir) else None
    if manifest is None or manifest.get("format_version") != FORMAT_VERSION:
        why = "no index" if manifest is None else "an index of an older format"
        print(f"{why} in {settings.index_dir}: building it from {settings.data_dir} first", file=sys.stderr)
        build_args = argparse.Namespace(**{**vars(args), "full": False})
        cmd_build(build_args)
    if args.workers > 1:
        os.environ["FAQBOT_INDEX_DIR"] = str(settings.index_dir)
        os.environ["FAQBOT_DATA_DIR"] = str(settings.data_dir)
        os.environ["FAQBOT_DB"] = str(settings.db)
        run("faqbot.api:app_from_env", settings, workers=args.workers)
    else:
        run(create_app(settings), settings)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from faqbot.evaluation.reports import run_cli

    return run_cli(args, _settings(args))


def cmd_report(args: argparse.Namespace) -> int:
    from faqbot.report import to_table
    from faqbot.store import Store, is_postgres_url
    from faqbot.web import make_report

    settings = _settings(args)
    if not is_postgres_url(settings.db) and not Path(settings.db).exists():
        raise FaqbotError(f"no query log at {settings.db}; serve faqbot for a while first, or set FAQBOT_DB / --db to the log")
    store = Store(settings.db)
    try:
        report = make_report(store, settings)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(to_table(report, limit=args.limit))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from faqbot.check import check_data

    settings = _settings(args)
    problems, pages = check_data(settings.data_dir)
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    print(f"{pages} page(s) checked in {settings.data_dir}: {errors} error(s), {warnings} warning(s)"
          + ("; warnings count as errors (--strict)" if args.strict and warnings else ""), file=sys.stderr)  # fmt: skip
    return 1 if errors or (args.strict and warnings) else 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="faqbot", description="Answers medicine questions with passages from drug pages.")
    sub = main.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="index the pages (incremental unless --full)")
    build.add_argument("--data", dest="data_dir", type=Path)
    build.add_argument("--index", dest="index_dir", type=Path)
    build.add_argument("--full", action="store_true", help="re-embed everything")
    build.set_defaults(func=cmd_build)

    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--index", dest="index_dir", type=Path)
    ask.add_argument("--json", action="store_true")
    ask.add_argument("-k", type=int, default=3, choices=range(1, 11), metavar="K")
    ask.set_defaults(func=cmd_ask)

    serve = sub.add_parser("serve", help="serve the chat page and the API (builds the index first if missing)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--index", dest="index_dir", type=Path)
    serve.add_argument("--data", dest="data_dir", type=Path)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    ev = sub.add_parser("eval", help="measure retrieval quality on the gold set")
    ev.add_argument("--gold", type=Path, default=Path("eval/gold.jsonl"))
    ev.add_argument("--index", dest="index_dir", type=Path)
    ev.add_argument("--out", type=Path, default=Path("eval/reports"))
    ev.add_argument("--fit", action="store_true", help="refit the weights and calibration on the dev split")
    ev.add_argument("--record-baseline", action="store_true", help="write the gate's figures (test, heldout-pages) to eval/baseline.json")
    ev.add_argument("--show-misses", nargs="*", default=[], choices=["test", "heldout-pages"],
                    help="also list these splits' misses (dev's are always listed); not while changing ranking")
    ev.add_argument("--beir", type=Path, help="a BEIR-style folder (corpus.jsonl, queries.jsonl, qrels/*.tsv)")
    ev.add_argument("--medquad", type=Path, help="the MedQuAD jsonl file")
    ev.add_argument("--limit", type=int, default=0, help="use only the first N documents of an external set")
    ev.set_defaults(func=cmd_eval)

    check = sub.add_parser("check", help="lint the pages without building: one line per problem, exit 1 on errors")
    check.add_argument("--data", dest="data_dir", type=Path)
    check.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    check.set_defaults(func=cmd_check)

    report = sub.add_parser("report", help="unanswered questions grouped by drug and meaning, unhelpful answers by passage")
    report.add_argument("--limit", type=int, default=20, help="groups listed in each table (--json lists all)")
    report.add_argument("--json", action="store_true", help="the report as JSON, as GET /report.json serves it")
    report.add_argument("--db", type=Path, help="the query log (default FAQBOT_DB, var/faqbot.sqlite3)")
    report.add_argument("--index", dest="index_dir", type=Path)
    report.set_defaults(func=cmd_report)
    return main


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except FaqbotError as exc:
        print(f"faqbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("faqbot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
