"""The Streamlit front end: ask questions, read cited passages, manage the library.

Layout only. Searching, ingesting, citing, escaping and saving uploads live in kb/ and
ingest/; this file calls them and lays the results out. Run: `streamlit run app.py`.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

import streamlit as st

from kb import app_support as sup
from kb import citations as cite
from kb.config import Settings, load_settings
from kb.errors import EmptyKnowledgeBase, KBError
from kb.models import Answer, Filters, Hit
from kb.search import Searcher
from kb.backends import Backend, open_backend
from kb.embedders import for_settings

from ingest import formats
from ingest.discover import corpus_files
from ingest.uploads import ALLOWED_SUFFIXES, ALLOWED_TYPES, save_uploads

APP_DIR = Path(__file__).resolve().parent
STATIC_DIR = APP_DIR / "static"  # served at app/static/ when server.enableStaticServing is on
EXAMPLES = ("What is DC:0-5?", "How are states building the IECMH workforce?", "What is reflective supervision?")
MAX_K = 20


# ---- resources: one model and one searcher per process ------------------------------------------

@st.cache_resource(show_spinner=False)
def get_embedder(s: Settings):
    """The shared Embedder. Its model starts loading in the background at once, so the first
    question does not wait for it when someone is still typing."""
    embedder = for_settings(s)

    def warm_up():
        try:
            embedder.load()
            embedder.encode_query("warm up")
        except Exception:  # reported when a search or ingest needs the model
            pass

    threading.Thread(target=warm_up, name="kb-model-warm-up", daemon=True).start()
    return embedder


@st.cache_resource(show_spinner=False)
def get_searcher(s: Settings) -> Searcher:
    """One Searcher per knowledge base; it reloads its index itself when the generation moves on."""
    return Searcher(open_backend(s), get_embedder(s),
                    sup.shared_reranker(s.reranker, s.device) if s.reranker else None)


def settings() -> Settings:
    try:
        return load_settings()
    except KBError as exc:
        error(exc)
        st.stop()


def searcher_for(s: Settings) -> Searcher:
    return get_searcher(s)


def corpus() -> Path:
    return sup.corpus_dir(APP_DIR, settings())


# ---- messages ------------------------------------------------------------------------------------

def error(exc: BaseException) -> None:
    """A library error as one line, never a traceback."""
    st.error(sup.escape_markdown(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__),
             icon=":material/error:")


def flash(kind: str, text: str) -> None:
    """A message that survives the next st.rerun(), shown once at the top of the page."""
    st.session_state.setdefault("_flash", []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop("_flash", []):
        getattr(st, kind)(text)


def report_messages(report) -> None:
    """Flash the outcome of an ingest: counts, then one line per file that failed."""
    counts = [f"{len(report.added)} added", f"{len(report.updated)} updated", f"{len(report.removed)} removed"]
    flash("success", f"Ingest finished in {report.seconds:.1f} s: {', '.join(counts)}. The knowledge base now holds "
                     f"{report.passages} passages from {report.documents} documents.")
    for failure in report.failed:
        flash("warning", f"**{sup.escape_markdown(Path(failure['path']).name)}** was not ingested: "
                         f"{sup.escape_markdown(failure['reason'])}")
    for warning in report.warnings:
        flash("info", f"{sup.escape_markdown(Path(warning['path']).name)}: {sup.escape_markdown(warning['warning'])}")


def run_ingest(paths: list[Path], s: Settings):
    """Ingest with a visible progress bar; returns the IngestReport, or None after an error."""
    from ingest.pipeline import ingest

    bar = st.progress(0.0, text="Starting…")
    notice = st.empty()

    def progress(stage: str, done: int, total: int) -> None:
        state = sup.progress_state(stage, done, total)
        if state:
            bar.progress(state[0], text=state[1])

    try:
        report = ingest([Path(p) for p in paths], s, progress=progress, embedder=get_embedder(s),
                        on_wait=lambda message: notice.info(sup.escape_markdown(message)))
    except KBError as exc:
        bar.empty()
        error(exc)
        return None
    bar.progress(1.0, text="Done")
    notice.empty()
    try:
        sup.remove_stale_sources(STATIC_DIR, set(sup.known_hashes(open_backend(s))))
    except (KBError, OSError):
        pass
    report_messages(report)
    return report


# ---- the Ask page ----------------------------------------------------------------------------------

def ask_page() -> None:
    s = settings()
    searcher = searcher_for(s)
    show_flash()
    try:
        reader = searcher.reader()
    except EmptyKnowledgeBase:
        first_run(s)
        return
    except KBError as exc:
        error(exc)
        return
    backend = searcher.backend
    try:
        facets = backend.facets()
        documents = backend.documents()
    except KBError as exc:
        error(exc)
        return
    filters, k = sidebar_filters(facets, documents)

    st.title("Ask the IECMH policy knowledge base")
    st.caption(f"{reader.generation.passages} passages from {len(documents)} documents · every answer is a cited passage")
    question = st.text_input("Question", key="q", bind="query-params", placeholder="e.g. What is DC:0-5?",
                             help="Press Enter to search. The question is kept in the page address, so you can "
                                  "bookmark or share the search.")
    question = " ".join((question or "").split())
    if not question:
        st.write("Try one of these:")
        cols = st.columns(len(EXAMPLES))
        for col, example in zip(cols, EXAMPLES):
            col.button(example, on_click=st.session_state.update, kwargs={"q": example}, width="stretch")
        return
    try:
        answer = ask(searcher, question, k, filters, reader.generation.number, s.method)
    except KBError as exc:
        error(exc)
        return
    show_answer(answer, searcher, filters)


def sidebar_filters(facets: dict, documents: list) -> tuple[Filters, int]:
    """The filter pickers, each bound to the address (?doc=...&type=...), so a filtered search
    can be bookmarked too. Documents are picked by title; the filter gets their paths."""
    paths_by_title: dict[str, list[str]] = {}
    for d in documents:
        paths_by_title.setdefault(d.title, []).append(d.path)
    with st.sidebar:
        st.subheader("Filters")
        titles = st.multiselect("Document", sorted(paths_by_title, key=str.casefold), key="doc",
                                bind="query-params", placeholder="All documents")
        chosen = [path for title in titles for path in paths_by_title[title]]
        doc_types = st.multiselect("Document type", facets["doc_types"], key="type", bind="query-params",
                                   placeholder="All types")
        publishers = st.multiselect("Publisher", facets["publishers"], key="publisher", bind="query-params",
                                    placeholder="All publishers")
        years, bounds = None, None
        if len(facets["years"]) >= 2:
            bounds = (int(facets["years"][0]), int(facets["years"][-1]))
            years = st.slider("Year", bounds[0], bounds[1], bounds, key="years", bind="query-params",
                              help="Narrowing the years leaves out documents without a year.")
        elif facets["years"]:
            st.caption(f"Every dated document is from {facets['years'][0]}.")
        k = st.slider("Passages to show", 1, MAX_K, 5, key="k", bind="query-params")
        filters = sup.build_filters(chosen, doc_types, publishers, years, bounds)
        if not filters.is_empty():
            st.button("Clear filters", on_click=clear_filters, args=(bounds,), icon=":material/filter_alt_off:")
    return filters, k


def clear_filters(year_bounds) -> None:
    for key in ("doc", "type", "publisher"):
        st.session_state[key] = []
    if year_bounds:
        st.session_state["years"] = year_bounds


def ask(searcher: Searcher, question: str, k: int, filters: Filters, generation: int, method: str) -> Answer:
    """Searcher.ask, remembered for this session until the question, filters or index change,
    so the reruns that toggles and buttons cause do not search again."""
    key = (searcher.backend.location, question, k, filters, generation, method)
    cached = st.session_state.get("_answer")
    if cached and cached[0] == key:
        return cached[1]
    loading = not searcher.embedder.loaded
    with st.spinner("Loading the language model (first question only)…" if loading else "Searching…"):
        answer = searcher.ask(question, k=k, filters=filters, method=method)
    st.session_state["_answer"] = (key, answer)
    return answer


def show_answer(answer: Answer, searcher: Searcher, filters: Filters) -> None:
    where = " within the filters" if not filters.is_empty() else ""
    if answer.answered:
        st.caption(f"{len(answer.hits)} passages{where} · {answer.seconds:.2f} s")
    else:
        st.warning(f"**Not answered: the knowledge base has no good answer to this question{where}.** "
                   f"{sup.escape_markdown(answer.reason or '')}", icon=":material/help:")
        if answer.hits:
            st.subheader("Closest passages — for reference, not answers")
    if not answer.hits:
        return
    export_buttons(answer)
    st.markdown(sup.CARD_CSS, unsafe_allow_html=True)
    for rank, hit in enumerate(answer.hits, 1):
        result_card(hit, rank, answer.answered, searcher)


def export_buttons(answer: Answer) -> None:
    slug = re.sub(r"[^a-z0-9]+", "-", answer.question.lower()).strip("-")[:40] or "results"
    exports = (("Markdown", cite.to_markdown, "md", "text/markdown"), ("CSV", cite.to_csv, "csv", "text/csv"),
               ("BibTeX", cite.to_bibtex, "bib", "application/x-bibtex"))
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption("Export these results:")
        for label, make, ext, mime in exports:
            st.download_button(label, make(answer), file_name=f"iecmh-sources-{slug}.{ext}", mime=mime,
                               on_click="ignore", icon=":material/download:", key=f"export-{ext}")


def result_card(hit: Hit, rank: int, answered: bool, searcher: Searcher) -> None:
    pid = hit.passage.id
    with st.container(border=True):
        if not answered:
            st.caption("Closest passage — not an answer")
        st.markdown(sup.card_html(hit, rank), unsafe_allow_html=True)
        cite_tab, quote_tab = st.tabs(["Citation", "Short quote with citation"])
        with cite_tab:
            st.code(hit.citation, language=None, wrap_lines=True)
        with quote_tab:
            st.code(cite.quote_citation(hit), language=None, wrap_lines=True)
        left, right = st.columns([1, 2])
        with left:
            open_source(hit)
        with right:
            more = st.toggle("More context", key=f"ctx-{pid}", help="Show the passages just before and after.")
        if more:
            try:
                around = searcher.neighbours(pid, before=1, after=1)
            except KBError as exc:
                error(exc)
                return
            st.markdown(sup.context_html(around, hit), unsafe_allow_html=True)


def paged(document) -> bool:
    """Whether the original opens at a page (PDFs) rather than as text."""
    fmt = formats.by_kind(document.kind)
    return fmt is not None and fmt.view == "pdf"


def open_source(hit: Hit) -> None:
    """A link to the original file, served by Streamlit's static route: PDFs at the cited page,
    other formats as plain text (never as live HTML)."""
    try:
        link = sup.source_link(hit.document, hit.passage, STATIC_DIR, paged(hit.document), hit.highlights)
    except KBError as exc:
        st.caption(sup.escape_markdown(str(exc)))
        return
    if st.get_option("server.enableStaticServing"):
        st.link_button(link.label, link.url, icon=":material/open_in_new:",
                       help="Opens the original document in a new tab" +
                            (" as plain text." if link.as_text else " at the cited page."))
    else:  # static serving off (config.toml not picked up): offer the file as a download instead
        path = sup.publish_source(hit.document, STATIC_DIR, paged(hit.document))
        st.download_button("Download source", data=lambda: path.read_bytes(), file_name=(
            hit.document.name if not link.as_text else Path(hit.document.name).stem + ".txt"),
            mime="text/plain" if link.as_text else "application/pdf", on_click="ignore",
            key=f"src-{hit.passage.id}", icon=":material/download:")


def first_run(s: Settings) -> None:
    folder = corpus()
    files = corpus_files(folder)
    st.title("Welcome to the IECMH policy knowledge base")
    st.info("The knowledge base is empty: there are no documents to search yet.", icon=":material/info:")
    st.caption(f"Knowledge base folder: {sup.escape_markdown(str(s.kb_dir))}")
    if files:
        st.write(f"The corpus folder holds {len(files)} document(s) ready to add:")
        st.text("\n".join(f"• {f.relative_to(folder)}" for f in files))
        if st.button(f"Ingest the shipped corpus ({len(files)} documents)", type="primary", key="ingest-corpus",
                     icon=":material/upload:"):
            if run_ingest([folder], s) is not None:
                st.rerun()
    else:
        st.warning(f"The corpus folder {sup.escape_markdown(str(folder))} has no documents "
                   f"({', '.join(ALLOWED_SUFFIXES)}). Add some on the Library page.")
    st.page_link(PAGES["library"], label="Upload documents on the Library page", icon=":material/library_books:")


# ---- the Library page ------------------------------------------------------------------------------

def library_page() -> None:
    s = settings()
    backend = open_backend(s)
    folder = corpus()
    st.title("Library")
    show_flash()
    try:
        rows, problems = sup.library_rows(backend)
    except KBError as exc:
        error(exc)
        rows, problems = [], []
    passages = sum(r["Passages"] for r in rows)
    st.caption(f"{len(rows)} documents · {passages} passages · knowledge base at {sup.escape_markdown(str(s.kb_dir))}")
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch", column_config={
            "Title": st.column_config.TextColumn(width="large"),
            "Path": st.column_config.TextColumn(width="small"),
        })
    else:
        st.info("No documents yet: add some below, or ingest the corpus folder.")
    if problems:
        st.subheader("Ingestion problems")
        st.caption("Files that could not be ingested the last time they were read.")
        st.dataframe(problems, hide_index=True, width="stretch")

    st.subheader("Add documents")
    st.caption(f"Accepted: {', '.join(ALLOWED_SUFFIXES)}, up to {s.upload_limit_mb} MB each. Files are saved in the "
               f"corpus folder {sup.escape_markdown(str(folder))} (set KB\\_CORPUS to change it) and ingested at once.")
    generation = st.session_state.setdefault("_uploader", 0)
    uploads = st.file_uploader("Files to add", type=list(ALLOWED_TYPES), accept_multiple_files=True,
                               max_upload_size=s.upload_limit_mb, key=f"uploader-{generation}")
    if st.button("Add to the knowledge base", type="primary", disabled=not uploads, key="add-uploads",
                 icon=":material/upload_file:"):
        add_uploads(uploads, folder, backend, s)

    st.subheader("Corpus folder")
    st.caption("Re-read the corpus folder: new and changed files are ingested, removed files leave the knowledge base.")
    if st.button("Re-scan the corpus folder", key="rescan", icon=":material/refresh:"):
        if run_ingest([folder], s) is not None:
            st.rerun()


def add_uploads(uploads, folder: Path, backend: Backend, s: Settings) -> None:
    try:
        known = sup.known_hashes(backend)
    except KBError:
        known = {}
    result = save_uploads(folder, [(f.name, f.getvalue()) for f in uploads], s.upload_limit_mb, known)
    for rejected in result.rejected:
        flash("error", sup.escape_markdown(str(rejected)))
    for saved in result.saved:
        if saved.renamed:
            flash("info", f"{sup.escape_markdown(saved.original_name)} was saved as "
                          f"{sup.escape_markdown(saved.path.name)}.")
    if result.saved:
        run_ingest([saved.path for saved in result.saved], s)
    st.session_state["_uploader"] = st.session_state.get("_uploader", 0) + 1  # empty the uploader
    st.rerun()


# ---- navigation ------------------------------------------------------------------------------------

def sidebar_settings() -> None:
    s = settings()
    with st.sidebar.expander("Settings", icon=":material/settings:"):
        st.caption(f"Knowledge base: {sup.escape_markdown(str(s.kb_dir))}  \n"
                   f"Corpus folder: {sup.escape_markdown(str(corpus()))}  \n"
                   f"Model: {sup.escape_markdown(s.model)} ({s.device})  \n"
                   f"Reranker: {sup.escape_markdown(s.reranker or 'none')}  \n"
                   f"Upload limit: {s.upload_limit_mb} MB")
        st.caption("Set with KB\\_DIR, KB\\_CORPUS, KB\\_MODEL, KB\\_RERANKER, KB\\_UPLOAD\\_LIMIT\\_MB "
                   "or the config file.")


PAGES: dict = {}  # url path -> st.Page, for links between pages


def main() -> None:
    st.set_page_config(page_title="IECMH policy knowledge base", page_icon="📚", layout="wide")
    PAGES["ask"] = st.Page(ask_page, title="Ask", icon=":material/search:", default=True)
    PAGES["library"] = st.Page(library_page, title="Library", icon=":material/library_books:", url_path="library")
    st.navigation(list(PAGES.values())).run()
    sidebar_settings()


# Streamlit runs this script as __main__. Ingestion reads PDFs in worker processes started
# with "spawn", and a spawned worker imports the parent's __main__ file as __mp_main__: the
# guard keeps it from running the app (and loading a model) in every worker.
if __name__ == "__main__":
    main()
