"""The `kb` command: ingest, ask, status, documents, migrate. A front end beside app.py: it parses,
calls the library (kb/) and ingestion (ingest/), and prints."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kb.config import RUNTIMES, load_settings
from kb.errors import KBError, UsageError
from kb.models import Answer, Filters
from kb.text import CONTROL, printable


class Progress:
    """tqdm bars on a terminal (stderr), nothing when piped."""

    LABELS = {"extract": "Reading files", "embed": "Embedding passages", "write": "Writing index"}

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or stage not in self.LABELS or total <= 0:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=self.LABELS[stage], unit="", file=sys.stderr, leave=False)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def echo(text: str = "", **kwargs) -> None:
    """Every human line goes through here: document text, titles and file names can hold
    control characters, and a terminal would obey them as escape sequences."""
    click.echo(printable(text), **kwargs)


def echo_json(data) -> None:
    """One JSON document; C1 controls and direction overrides (which json.dumps leaves as they
    are) are escaped too."""
    text = json.dumps(data, ensure_ascii=False)
    click.echo(CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def _fail(exc: KBError) -> None:
    echo(f"Error: {exc}", err=True)
    sys.exit(2 if isinstance(exc, UsageError) else 1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="iecmh-kb")
def main():
    """A cited-passage knowledge base of IECMH policy documents.

    The knowledge base lives in --kb DIR, else $KB_DIR, else kb_dir in the config file,
    else the user data folder (see `kb status`).
    """


kb_option = click.option("--kb", "kb_dir", type=click.Path(file_okay=False, path_type=Path),
                         help="Knowledge-base folder (default: $KB_DIR or the user data folder).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
model_option = click.option("--model", help="Embedding model: a local folder or a hub name ($KB_MODEL).")
device_option = click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Device for embedding.")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--urls", "url_list", type=click.Path(dir_okay=False, path_type=Path),
              help="A file of web addresses to fetch, one a line (# starts a comment).")
@kb_option
@json_option
@model_option
@device_option
@click.option("--rebuild", is_flag=True, help="Re-embed every stored passage (after a model change or damage).")
@click.option("--runtime", type=click.Choice(RUNTIMES), help="Embedding runtime ($KB_RUNTIME).")
@click.option("--index", "index_kind", type=click.Choice(["auto", "flat", "hnsw"]), help="Force a FAISS index kind.")
@click.option("--wait", "lock_wait_s", type=float, help="Seconds to wait for another ingest to finish (default 600).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Read and embed on a Ray cluster (ADDRESS: ray://head:10001, head:6379 or auto); alone: a "
                   "one-machine cluster started here.")
def ingest(paths, url_list, kb_dir, as_json, model, device, rebuild, runtime, index_kind, lock_wait_s, ray_address):
    """Add, update and remove documents from files, folders and web addresses.

    PATHS are files, folders, or web addresses (https://...). Files gone from an ingested
    folder are removed; unchanged files are skipped. An address is fetched again and
    re-read only if the page changed; a page that is gone keeps its passages and is
    reported. With --rebuild and no PATHS, only re-embeds what is stored (after a model
    change or damage).
    """
    from ingest.web import is_address, read_address_list

    try:
        if ray_address and ray_address not in ("local", "auto") and ":" not in ray_address:
            paths, ray_address = (ray_address, *paths), "local"  # `--ray corpus/`: a folder, not an address
        sources = [p if is_address(p) else Path(p) for p in paths]
        if url_list is not None:
            sources += read_address_list(url_list)
        if not sources and not rebuild:
            raise UsageError("Give at least one file, folder or web address to ingest (or --rebuild to repair the "
                             "index).")
        settings = load_settings(kb_dir=kb_dir, model=model, device=device, index=index_kind, lock_wait_s=lock_wait_s,
                                 runtime=runtime)
        if ray_address:
            from ingest.ray_ingest import ingest_on_ray

            def run_ingest(*args, **kwargs):
                return ingest_on_ray(*args, address=None if ray_address == "local" else ray_address, **kwargs)
        else:
            from ingest.pipeline import ingest as run_ingest
        progress = Progress(sys.stderr.isatty() and not as_json)
        try:
            report = run_ingest(sources, settings, rebuild=rebuild, progress=progress,
                                on_wait=lambda msg: echo(msg, err=True))
        finally:
            progress.close()
    except KBError as exc:
        _fail(exc)
    if as_json:
        echo_json(report.to_dict())
    else:
        _print_report(report)
    sys.exit(report.exit_code)


def _print_report(r) -> None:
    def names(items):
        return f": {', '.join(items)}" if items and len(items) <= 8 else ""

    echo(f"Knowledge base: {r.kb_dir}")
    echo(f"  added      {len(r.added):>5}{names(r.added)}")
    echo(f"  updated    {len(r.updated):>5}{names(r.updated)}")
    echo(f"  removed    {len(r.removed):>5}{names(r.removed)}")
    echo(f"  unchanged  {len(r.unchanged):>5}")
    echo(f"  failed     {len(r.failed):>5}")
    for f in r.failed:
        echo(f"    ✗ {f['path']}: {f['reason']}")
    for w in r.warnings:
        echo(f"    ! {w['path']}: {w['warning']}")
    if r.repaired_index:
        echo("  repaired   the index files were missing or out of step and were rebuilt")
    if r.repaired_passages:
        echo(f"  re-embedded {r.repaired_passages} stored passages (repair/rebuild)")
    echo(f"  passages   {r.passages:>5} in {r.documents} documents ({r.new_passages} new)")
    echo(f"  seconds    {r.seconds:>5.1f}")


def _parse_filters(values: tuple[str, ...]) -> Filters:
    from kb.service import parse_filters

    return parse_filters(values)


@main.command()
@click.argument("question", required=False)
@kb_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True, help="Passages to return.")
@json_option
@click.option("--questions", type=click.File("r", encoding="utf-8"),
              help='Answer a batch: a JSONL file of {"id": ..., "question": ...}; prints JSON lines.')
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="Restrict the search: document=NAME, type=TYPE, publisher=NAME, year=2020 or 2018-2022, "
                   "state=MA or state=Massachusetts (passages that name it or whose document is about it). Repeatable.")
@click.option("--method", type=click.Choice(["fused", "dense", "keyword"]), help="Retrieval method (default fused).")
@click.option("--reranker", help="Cross-encoder folder or hub name to rerank with ($KB_RERANKER).")
@model_option
@device_option
@click.option("--runtime", type=click.Choice(RUNTIMES), help="Embedding runtime ($KB_RUNTIME).")
def ask(question, kb_dir, k, as_json, questions, filters, method, reranker, model, device, runtime):
    """Print the passages that best answer QUESTION, with citations."""
    from kb.backends import open_backend
    from kb.embedders import for_settings
    from kb.rerank import Reranker
    from kb.search import Searcher

    try:
        if bool(question) == bool(questions):
            raise UsageError("Give either a QUESTION or --questions FILE.")
        settings = load_settings(kb_dir=kb_dir, model=model, device=device, reranker=reranker, method=method,
                                 runtime=runtime)
        filt = _parse_filters(filters)
        searcher = Searcher(open_backend(settings), for_settings(settings, shared=False),
                            Reranker(settings.reranker, settings.device) if settings.reranker else None,
                            focus=settings.sentence_focus)
        if questions:
            for n, line in enumerate(questions, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    text = item["question"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise UsageError(f"Line {n} of {questions.name} is not a JSON object with a \"question\".") from None
                answer = searcher.ask(text, k=k, filters=filt, method=settings.method)
                echo_json(answer.to_dict(item.get("id")))
            return
        answer = searcher.ask(question, k=k, filters=filt, method=settings.method)
    except KBError as exc:
        _fail(exc)
    if as_json:
        echo_json(answer.to_dict())
    else:
        _print_answer(answer, color=sys.stdout.isatty())


def _print_answer(answer: Answer, color: bool) -> None:
    if not answer.answered:
        click.secho(printable(f"Not answered: {answer.reason}"), fg="yellow" if color else None)
        if answer.hits:
            echo("Closest passages, for reference:")
    elif answer.best is not None:
        click.secho("Best answer" + ("" if answer.best.rank == 1 else f" (from passage {answer.best.rank})") + ":",
                    bold=color)
        echo(printable(answer.best.to_dict()["quote_citation"]))
    for i, hit in enumerate(answer.hits, 1):
        text = hit.passage.text
        shown, pos = [], 0
        for s, e in hit.highlights:
            shown.append(printable(text[pos:s]))
            shown.append(click.style(printable(text[s:e]), bold=True, underline=True) if color else f"[{text[s:e]}]")
            pos = e
        shown.append(printable(text[pos:]))
        echo()
        click.secho(printable(f"[{i}] {hit.document.title}"), bold=color)
        if hit.passage.context_label:
            echo(f"    ({hit.passage.context_label})")
        click.echo("    " + "".join(shown))  # already made printable, piece by piece
        echo(f"    Cite: {hit.citation}")


@main.command()
@kb_option
@json_option
def status(kb_dir, as_json):
    """What the knowledge base holds: documents, passages, model, index kind and size."""
    from kb.backends import open_backend

    try:
        info = open_backend(load_settings(kb_dir=kb_dir)).status()
    except KBError as exc:
        _fail(exc)
    if as_json:
        echo_json(info.to_dict())
        return
    echo(f"Knowledge base: {info.location} ({info.backend})")
    for key in ("documents", "passages", "model", "dimension", "index", "generation", "updated_at", "schema"):
        echo(f"  {key:<11} {getattr(info, key)}")
    if info.bytes is not None:
        echo(f"  size        {info.bytes / 2**20:.1f} MiB (vectors {(info.vector_bytes or 0) / 2**20:.1f} MiB)")
    for p in info.problems:
        echo(f"  ✗ {p['name']}: {p['reason']}")


@main.command()
@click.option("--to", "to", type=click.Choice(["postgres"]), required=True, help="The backend to copy into.")
@kb_option
@click.option("--database-url", help="Target database, postgresql://user:password@host/dbname ($KB_DATABASE_URL).")
@json_option
def migrate(to, kb_dir, database_url, as_json):
    """Copy the local knowledge base (--kb) into an empty PostgreSQL database, vectors included:
    nothing is re-read or re-embedded. Then set KB_BACKEND=postgres to use it."""
    from kb.backends import open_backend
    from kb.backends.copy import copy_knowledge_base
    from kb.backends.local import LocalBackend

    try:
        settings = load_settings(kb_dir=kb_dir, database_url=database_url)
        if not settings.database_url:
            raise UsageError("Give the target database: --database-url postgresql://... or KB_DATABASE_URL.")
        target = open_backend(settings.with_(backend=to))
        report = copy_knowledge_base(LocalBackend(settings.kb_dir), target, wait=settings.lock_wait_s)
    except KBError as exc:
        _fail(exc)
    if as_json:
        echo_json(report.to_dict())
        return
    echo(f"Copied {report.documents} documents and {report.passages} passages ({report.model}) from {report.source} "
         f"to {report.target} in {report.seconds:.1f} s.")
    echo(f"Use it with KB_BACKEND={to} KB_DATABASE_URL=<the address>.")


@main.command()
@kb_option
@json_option
def documents(kb_dir, as_json):
    """Each document's metadata, as citations will show it (edit metadata.json to change it)."""
    from kb.backends import open_backend

    from kb.service import documents_json

    try:
        backend = open_backend(load_settings(kb_dir=kb_dir))
        docs = backend.documents()
        counts = backend.passage_counts()
        shaped = documents_json(backend) if as_json else None
    except KBError as exc:
        _fail(exc)
    if as_json:
        echo_json(shaped)
        return
    for d in docs:
        echo(f"{d.name}")
        echo(f"  title      {d.title}")
        echo(f"  publisher  {d.publisher or '(none)'}")
        echo(f"  year       {d.year or '(none)'}")
        for label, value in (("type", d.doc_type), ("url", d.url), ("accessed", d.accessed),
                             ("states", ", ".join(d.states)), ("pages", d.pages)):
            if value:
                echo(f"  {label:<10} {value}")
        echo(f"  passages   {counts.get(d.id, 0)}")


# ---- the knowledge base for other programs: an HTTP API and an MCP server (http_api.py, mcp_server.py) ----

host_option = click.option("--host", default="127.0.0.1", show_default=True,
                           help="Address to bind; anything but loopback needs $KB_API_TOKEN.")


@main.command()
@kb_option
@host_option
@click.option("--port", type=click.IntRange(1, 65535), default=8700, show_default=True)
@click.option("--allow-writes", is_flag=True,
              help="Add the writing endpoints: ingest an address or an upload, edit metadata, delete.")
def serve(kb_dir, host, port, allow_writes):
    """Serve the knowledge base as an HTTP JSON API (POST /ask, /documents, /passages/ID, /export,
    /status; OpenAPI at /docs). Read-only unless --allow-writes."""
    from http_api import serve as run_api

    try:
        settings = load_settings(kb_dir=kb_dir)
        echo(f"Serving {settings.kb_dir} on http://{host}:{port} (API at /docs){' with writes' if allow_writes else ''}; "
             "Ctrl+C stops it.", err=True)
        run_api(settings, host=host, port=port, allow_writes=allow_writes)
    except KBError as exc:
        _fail(exc)


@main.command()
@kb_option
@click.option("--http", "over_http", is_flag=True, help="Serve over streamable HTTP at http://HOST:PORT/mcp "
                                                        "instead of stdio.")
@host_option
@click.option("--port", type=click.IntRange(1, 65535), default=8701, show_default=True)
def mcp(kb_dir, over_http, host, port):
    """Serve the knowledge base to an AI assistant over the Model Context Protocol (stdio by
    default): tools search_policy_documents, get_passage, list_documents, cite."""
    import mcp_server

    try:
        settings = load_settings(kb_dir=kb_dir)
        if over_http:
            echo(f"MCP server for {settings.kb_dir} on http://{host}:{port}/mcp; Ctrl+C stops it.", err=True)
            mcp_server.run_http(settings, host=host, port=port)
        else:
            mcp_server.run_stdio(settings)
    except KBError as exc:
        _fail(exc)


if __name__ == "__main__":
    main()
