"""The Streamlit front end: ask questions, read cited passages beside their source, collect and
export citations, manage the library.

Layout only. Searching, ingesting, citing, escaping, the source viewer and every Library
operation live in kb/ and ingest/; this file calls them and lays the results out.

    streamlit run app.py     # starts loading the model and index with the server
    python app.py [--server.port 8501 ...]   # the same, as a launcher (scripts/run.sh)

`streamlit run` finds `app` at the bottom (an st.App, Streamlit's ASGI entry point) and serves it:
its lifespan starts loading the model and index when the server starts, before any browser
arrives; every page view runs this same file as the page script.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path

import streamlit as st

from kb import app_support as sup
from kb import citations as cite
from kb import serving
from kb import states as us_states
from kb import viewer
from kb import workbench as wb
from kb.backends import Backend, open_backend
from kb.config import Settings, load_settings
from kb.errors import EmptyKnowledgeBase, KBError
from kb.models import Answer, Filters, Hit
from kb.search import Searcher

from ingest import formats
from ingest.discover import corpus_files
from ingest.uploads import ALLOWED_SUFFIXES, ALLOWED_TYPES

APP_DIR = Path(__file__).resolve().parent
STATIC_DIR = APP_DIR / "static"  # the favicon; never served as a folder (server.enableStaticServing is off)
FAVICON = STATIC_DIR / "favicon.png"  # local: a Material icon as page_icon makes the browser fetch it from Google
EXAMPLES = ("What is DC:0-5?", "How are states building the IECMH workforce?", "What is reflective supervision?")
MAX_K = 20
QUESTION_LABEL = "Question"


# ---- settings, messages ----------------------------------------------------------------------------

def settings() -> Settings:
    try:
        return load_settings()
    except KBError as exc:
        error(exc)
        st.stop()


def corpus() -> Path:
    return sup.corpus_dir(APP_DIR, settings())


def error(exc: BaseException) -> None:
    """A library error as one line, never a traceback."""
    st.error(sup.escape_markdown(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__),
             icon=":material/error:")


def flash(kind: str, text: str, first: bool = False) -> None:
    """A message that survives the next st.rerun(), shown once at the top of the page
    (`first`: above those flashed before it)."""
    messages = st.session_state.setdefault("_flash", [])
    messages.insert(0, (kind, text)) if first else messages.append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop("_flash", []):
        getattr(st, kind)(text)


def report_messages(report, headline: str | None = None) -> None:
    """Flash the outcome of an ingest: counts (or `headline`), then one line per file that failed."""
    counts = [f"{len(report.added)} added", f"{len(report.updated)} updated", f"{len(report.removed)} removed"]
    changed = report.added or report.updated or report.removed or headline
    # Nothing changed and something failed: a plain note, not a green box between the errors.
    flash("success" if changed or not report.failed else "info",
          (headline or f"Ingest finished in {report.seconds:.1f} s: {', '.join(counts)}.") +
          f" The knowledge base now holds {report.passages} passages from {report.documents} documents.", first=True)
    for failure in report.failed:
        flash("warning", f"**{sup.escape_markdown(Path(str(failure['path'])).name)}** was not ingested: "
                         f"{sup.escape_markdown(failure['reason'])}")
    for warning in report.warnings:
        flash("info", f"{sup.escape_markdown(Path(str(warning['path'])).name)}: "
                      f"{sup.escape_markdown(warning['warning'])}")


def with_progress(work, headline=None):
    """Run an ingest-like `work(progress=...)` under a progress bar; flash its report (with
    `headline(report)` as its first line, when given). Returns the report, or None after an
    error (shown)."""
    bar = st.progress(0.0, text="Starting…")

    def progress(stage: str, count: int, total: int) -> None:
        state = sup.progress_state(stage, count, total)
        if state:
            bar.progress(state[0], text=state[1])

    try:
        report = work(progress=progress)
    except KBError as exc:
        bar.empty()
        error(exc)
        return None
    bar.progress(1.0, text="Done")
    report_messages(report, headline(report) if headline else None)
    return report


def run_ingest(paths: list, s: Settings):
    """Ingest files, folders or web addresses (strings) with a progress bar, in a child process
    (ingest.library.ingest_in_child): a document that exhausts memory or crashes a reader ends
    that process, not the app's server; fetched pages count against the upload quota."""
    from ingest.library import ingest_in_child

    return with_progress(lambda progress: ingest_in_child(
        [p if isinstance(p, str) and "://" in p else Path(p) for p in paths], s, progress=progress,
        on_wait=lambda message: st.info(sup.escape_markdown(message)), quota_folder=corpus()))


# ---- small browser components (trusted code; document text only ever travels as data) --------------

COPY_JS = """
export default function(component) {
  const { data, parentElement } = component;
  let button = parentElement.querySelector('button');
  if (!button) {
    button = document.createElement('button');
    button.type = 'button';
    button.className = 'kb-copy';
    parentElement.appendChild(button);
  }
  button.textContent = data.label;
  button.title = data.hint;
  button.onclick = async () => {
    try {
      if (window.ClipboardItem && navigator.clipboard.write) {
        await navigator.clipboard.write([new ClipboardItem({
          'text/html': new Blob([data.html], {type: 'text/html'}),
          'text/plain': new Blob([data.text], {type: 'text/plain'})})]);
      } else {
        await navigator.clipboard.writeText(data.text);
      }
      button.textContent = 'Copied';
    } catch (e) {
      button.textContent = 'Copy failed: select the text instead';
    }
    setTimeout(() => { button.textContent = data.label; }, 2000);
  };
}
"""
COPY_CSS = """
.kb-copy {font: inherit; font-size: .875rem; padding: .25rem .75rem; border-radius: .5rem; cursor: pointer;
          border: 1px solid rgba(49, 51, 63, .2); background: transparent; color: inherit; min-height: 2.25rem;}
.kb-copy:hover {border-color: #ff4b4b; color: #ff4b4b;}
.kb-copy:focus-visible {outline: 2px solid #ff4b4b; outline-offset: 2px;}
"""
FOCUS_JS = """
export default function(component) {
  if (!window.__kbAnchoring) {
    // Remember where a result card was on screen when one of its buttons is pressed, so the
    // source viewer opening beside it (SCROLL_JS) can keep that card where the reader left it.
    window.__kbAnchoring = true;
    document.addEventListener('click', (event) => {
      const card = event.target.closest && event.target.closest('[class*="card-"][class*="st-key-"]');
      const key = card && [...card.classList].find(c => /^st-key-(.+-)?card-[0-9]+$/.test(c));
      if (!key) return;
      window.__kbAnchor = {key: key, top: card.getBoundingClientRect().top, at: Date.now()};
    }, true);
  }
  if (window.__kbFocused) return;
  window.__kbFocused = true;
  const focus = (tries) => {
    const box = document.querySelector("input[aria-label='Question']");
    if (box) { box.focus(); box.setSelectionRange(box.value.length, box.value.length); }
    else if (tries > 0) setTimeout(() => focus(tries - 1), 100);
  };
  focus(50);
}
"""
SCROLL_JS = """
export default function(component) {
  // Scroll the viewer's own box so the marked passage sits in its upper third. Only elements
  // between the mark and the box (the keyed container) are ever scrolled: never the page, so
  // the card just clicked stays where it was, whatever the document's length or format.
  const wanted = String(component.data.passage);
  const scroll = (tries) => {
    const box = document.querySelector('.st-key-viewer-text');
    const mark = box && box.querySelector('.kb-view-current[data-passage="' + wanted + '"]');
    let scroller = null;
    for (let el = mark && mark.parentElement; el; el = el.parentElement) {
      const overflow = getComputedStyle(el).overflowY;
      if ((overflow === 'auto' || overflow === 'scroll') && el.scrollHeight > el.clientHeight + 1) { scroller = el; break; }
      if (el === box) break;
    }
    if (mark && scroller && mark.getBoundingClientRect().height > 0) {
      const offset = mark.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
      scroller.scrollTop = Math.max(0, scroller.scrollTop + offset - scroller.clientHeight / 3);
      keepCard();
      box.dataset.kbScrolledTo = wanted;
    } else if (mark && !scroller) {
      keepCard();
      box.dataset.kbScrolledTo = wanted;  // the whole document fits in the box: nothing to scroll
    } else if (tries > 0) setTimeout(() => scroll(tries - 1), 100);
  };
  // Beside the answers (wide windows), the results column narrows as the viewer opens and the
  // text above the clicked card reflows: put the card back where it was on screen.
  const keepCard = () => {
    const anchor = window.__kbAnchor;
    if (!anchor || Date.now() - anchor.at > 15000 || window.innerWidth <= 1000) return;
    const restore = () => {
      const card = document.querySelector('.' + anchor.key);
      if (!card) return;
      let page = card.parentElement;
      while (page && !(/(auto|scroll)/.test(getComputedStyle(page).overflowY) && page.scrollHeight > page.clientHeight + 1))
        page = page.parentElement;
      page = page || document.scrollingElement;
      page.scrollTop += card.getBoundingClientRect().top - anchor.top;
    };
    restore();
    setTimeout(restore, 150);
    setTimeout(() => { restore(); window.__kbAnchor = null; }, 500);
  };
  scroll(50);
}
"""


@st.cache_resource(show_spinner=False)
def components():
    v2 = st.components.v2
    return {"copy": v2.component("kb_copy", js=COPY_JS, css=COPY_CSS),
            "focus": v2.component("kb_focus", js=FOCUS_JS),
            "scroll": v2.component("kb_scroll", js=SCROLL_JS)}


def copy_button(label: str, formatted: cite.Formatted, key: str) -> None:
    """A real <button> (reachable with Tab) that puts text/html and text/plain on the clipboard,
    so a word processor keeps the citation's italics."""
    components()["copy"](data={"label": label, "text": formatted.text, "html": formatted.html,
                               "hint": "Copies formatted text (italics kept) and plain text"}, key=key, width="content")


# ---- the Ask page ----------------------------------------------------------------------------------

def ask_page() -> None:
    s = settings()
    searcher = sup.shared_searcher(s)
    sup.preload(s)  # no-op when the server already started it (lifespan, below)
    backend = searcher.backend
    show_flash()
    try:
        documents = backend.documents() if backend.exists() else []
    except KBError as exc:
        error(exc)
        return
    if not documents:
        first_run(s)
        return
    st.markdown(sup.CARD_CSS + viewer.VIEW_CSS, unsafe_allow_html=True)
    st.title("Ask the IECMH policy knowledge base")
    sync_question_from_address()
    st.text_input(QUESTION_LABEL, key="q", on_change=question_submitted, placeholder="e.g. What is DC:0-5?",
                  help="Press Enter to search. Each question is kept in the page address: Back returns to the "
                       "previous one, and the address can be bookmarked or shared.")
    components()["focus"](key="focus-question")
    question = " ".join((st.session_state.get("q") or "").split())
    try:
        filters, k = sidebar_filters(backend.facets(), documents)
        reader = searcher.reader()
    except EmptyKnowledgeBase:
        first_run(s)
        return
    except KBError as exc:
        error(exc)
        return
    st.caption(f"{reader.generation.passages} passages from {len(documents)} documents · every answer is a cited passage")
    bench = load_workbench(reader)
    if not question:
        examples()
        sidebar_workbench(bench)
        return
    try:
        answer = ask(searcher, question, k, filters, reader.generation.number, s.method)
    except KBError as exc:
        error(exc)
        return
    if bench.recent[:1] != [question]:
        bench = change_workbench(lambda b: wb.remember(b, question), reader) or bench
    show_answer(answer, searcher, filters, bench)
    sidebar_workbench(bench)


def set_question(question: str) -> None:
    """Ask `question` as a new history entry: the address changes with a browser history push."""
    question = " ".join((question or "").split())
    st.session_state["q"] = question
    st.session_state["_url_q"] = question
    st.session_state.pop("_view", None)
    if question:
        st.query_params["q"] = question
    else:
        st.query_params.pop("q", None)


def question_submitted() -> None:
    set_question(st.session_state.get("q", ""))


def sync_question_from_address() -> None:
    """The address is the truth: a link, a reload, Back or Forward put its ?q= in the box (as
    does coming back from the Library, which drops the box's state)."""
    in_address = " ".join((st.query_params.get("q") or "").split())
    if st.session_state.get("_url_q") != in_address or "q" not in st.session_state:
        st.session_state["_url_q"] = in_address
        st.session_state["q"] = in_address
        st.session_state.pop("_view", None)


def examples() -> None:
    st.write("Try one of these:")
    with st.container(horizontal=True):
        for example in EXAMPLES:
            st.button(example, on_click=set_question, args=(example,))


def sidebar_filters(facets: dict, documents: list) -> tuple[Filters, int]:
    """The filter pickers, each bound to the address (?doc=...&state=...), so a filtered search
    can be bookmarked too. Documents are picked by their full title; the filter gets paths."""
    paths_by_title = sup.document_titles(documents)
    with st.sidebar:
        st.subheader("Filters")
        titles = st.multiselect("Document", sorted(paths_by_title, key=str.casefold), key="doc",
                                bind="query-params", placeholder="All documents")
        chosen = [path for title in titles if title in paths_by_title for path in paths_by_title[title]]
        doc_types = st.multiselect("Document type", facets["doc_types"], key="type", bind="query-params",
                                   placeholder="All types")
        publishers = st.multiselect("Publisher", facets["publishers"], key="publisher", bind="query-params",
                                    placeholder="All publishers")
        states = st.multiselect("US state", facets.get("states", []), key="state", bind="query-params",
                                format_func=sup.state_label, placeholder="All states and territories",
                                help="Passages that name the state, or whose document is about it.")
        years, bounds = None, None
        if len(facets["years"]) >= 2:
            bounds = (int(facets["years"][0]), int(facets["years"][-1]))
            years = st.slider("Year", bounds[0], bounds[1], bounds, key="years", bind="query-params",
                              help="Narrowing the years leaves out documents without a year.")
        st.caption(sup.year_note(documents))
        k = st.slider("Passages to show", 1, MAX_K, 5, key="k", bind="query-params")
        filters = sup.build_filters(chosen, doc_types, publishers, years, bounds, states)
        if not filters.is_empty():
            st.button("Clear filters", on_click=clear_filters, args=(bounds,), icon=":material/filter_alt_off:")
    return filters, k


def clear_filters(year_bounds) -> None:
    for key in ("doc", "type", "publisher", "state"):
        st.session_state[key] = []
    if year_bounds:
        st.session_state["years"] = year_bounds


# ---- the workbench: recent questions and named collections, saved with the knowledge base -------------

def workbench_store() -> wb.WorkbenchStore:
    """This user's workbench file: per login when one is configured, else the one local user."""
    user = None
    if login_required() and st.user.get("is_logged_in"):
        user = st.user.get("email") or st.user.get("sub")
    return wb.WorkbenchStore(settings().kb_dir, user)


def load_workbench(reader=None) -> wb.Workbench:
    """The saved workbench, each collected passage checked against the knowledge base (this run's)."""
    if reader is None:
        bench = workbench_store().load()
    else:
        try:
            bench = wb.load_checked(workbench_store(), reader)
        except KBError:
            bench = workbench_store().load()  # shown as saved; the knowledge base reports its own error
    st.session_state["_bench"] = bench
    return bench


def change_workbench(change, reader=None) -> wb.Workbench | None:
    """Apply a change to the saved workbench (a callback, or inline); one line when it cannot be saved."""
    try:
        bench = workbench_store().update(change)
    except wb.CollectionError as exc:
        flash("warning", sup.escape_markdown(str(exc)))
        return None
    except OSError as exc:
        flash("error", f"The collection could not be saved in the knowledge-base folder "
                       f"({sup.escape_markdown(exc.strerror or str(exc))}); check that the folder is writable.")
        return None
    if reader is not None and any(bench.collections.values()):
        with contextlib.suppress(KBError):
            wb.refresh(bench, reader.fetch, wb.passage_finder(reader))
    st.session_state["_bench"] = bench
    return bench


def sidebar_workbench(bench: wb.Workbench) -> None:
    """Recent questions and the collections of passages across them, as saved with the knowledge base."""
    with st.sidebar:
        if bench.recent:
            st.subheader("Recent questions")
            for i, past in enumerate(bench.recent):
                st.button(past, key=f"recent-{i}", on_click=set_question, args=(past,), type="tertiary",
                          icon=":material/history:")
        items = bench.items()
        present = [i for i in items if not i.gone]
        st.subheader(f"Collection ({len(present)})")
        names = list(bench.collections)
        st.session_state["collection-pick"] = bench.active
        st.selectbox("Collection", names, key="collection-pick", label_visibility="collapsed",
                     on_change=lambda: change_workbench(lambda b: wb.activate(b, st.session_state["collection-pick"])),
                     help="Passages are kept with the knowledge base: they stay after a reload, in a new tab and "
                          "after a restart.")
        with st.popover("Rename, new, delete", icon=":material/edit:", width="stretch"):
            st.text_input("Name", value=bench.active, key=f"collection-name-{bench.active}",
                          on_change=lambda old=bench.active: change_workbench(
                              lambda b: wb.rename(b, old, st.session_state[f"collection-name-{old}"])))
            st.text_input("New collection", key="collection-new", placeholder="e.g. Consultation funding memo",
                          on_change=new_collection)
            st.button("Delete this collection" if len(names) > 1 else "Empty this collection", key="collection-delete",
                      on_click=lambda name=bench.active: change_workbench(lambda b: wb.delete(b, name)),
                      icon=":material/delete:")
        if not items:
            st.caption("Tick “Collect” on any passage, across questions, to export them together.")
            return
        for item in items:
            title = sup.escape_markdown(item.hit.document.title)
            if item.gone:
                with st.container(horizontal=True, vertical_alignment="center"):
                    st.caption(f":red[Gone from the knowledge base:] {title}")
                    st.button("Remove", key=f"collection-drop-{item.passage_id}", type="tertiary",
                              on_click=lambda pid=item.passage_id: change_workbench(lambda b: wb.remove(b, pid)))
            else:
                st.caption(f"{title} · {sup.escape_markdown(cite.cited_page(item.hit.passage) or '')}".rstrip(" ·"))
        if not present:
            return
        style = st.session_state.get("style", cite.HOUSE)
        fmt = st.selectbox("Export format", sup.EXPORTS, format_func=lambda e: e.label, key="collection-format")
        st.download_button(f"Export collection ({fmt.label})", sup.export_text(wb.sources(items), fmt, style),
                           file_name=f"iecmh-{sup.slug(bench.active, 30) if bench.active != wb.DEFAULT_NAME else 'collection'}"
                                     f".{fmt.extension}", mime=fmt.mime, on_click="ignore",
                           icon=":material/download:", key="collection-export")
        st.button("Empty the collection", key="collection-clear", icon=":material/delete_sweep:",
                  on_click=lambda: change_workbench(lambda b: wb.clear(b)))


def new_collection() -> None:
    name = st.session_state.get("collection-new", "")
    if name.strip():
        change_workbench(lambda b: wb.create(b, name))
    st.session_state["collection-new"] = ""


def ask(searcher: Searcher, question: str, k: int, filters: Filters, generation: int, method: str) -> Answer:
    """Searcher.ask, remembered for this session until the question, filters or index change,
    so the reruns that toggles and buttons cause do not search again. The model is loaded
    first, under its own message, so the reported search time never includes loading it."""
    key = (searcher.backend.location, question, k, filters, generation, method)
    cached = st.session_state.get("_answer")
    if cached and cached[0] == key:
        return cached[1]
    if not searcher.embedder.loaded:
        with st.spinner("Loading the language model (first question only)…"):
            searcher.embedder.load()
    with st.spinner("Searching…"):
        answer = searcher.ask(question, k=k, filters=filters, method=method)
    st.session_state["_answer"] = (key, answer)
    return answer


def show_answer(answer: Answer, searcher: Searcher, filters: Filters, bench: wb.Workbench) -> None:
    where = " within the filters" if not filters.is_empty() else ""
    style = result_controls(answer)
    viewing = next((h for h in answer.hits if h.passage.id == st.session_state.get("_view")), None)
    # A PDF page needs the room: three fifths of the width beside the answers (its close-up about
    # 540 px wide at 1280 px, the page's type drawn at about its printed size).
    ratio = [2, 3] if viewing and paged(viewing.document) else [3, 2]
    results, side = st.columns(ratio, gap="medium") if viewing else (st.container(), None)
    collected = bench.collected_ids()
    with results:
        best = sup.best_answer(answer)
        if best:
            st.markdown(sup.best_answer_html(best, sup.citation_html(cite.format_citation(best.hit, style).html)),
                        unsafe_allow_html=True)
            quoted = sup.best_answer_formatted(best, style)
            with st.container(horizontal=True):
                copy_button("Copy best answer + citation", quoted, key="copy-best")
                copy_button("Copy best answer + citation + reference", sup.with_reference(quoted, best.hit, style),
                            key="copy-best-ref")
        if answer.answered:
            st.caption(f"{len(answer.hits)} passages{where} · searched in {answer.seconds:.2f} s")
        else:
            st.warning(f"**Not answered: the knowledge base has no good answer to this question{where}.** "
                       f"{sup.escape_markdown(answer.reason or '')}", icon=":material/help:")
            if answer.hits:
                st.subheader("Closest passages — for reference, not answers")
        if st.session_state.get("layout") == "By state":
            rank_of = {id(h): i for i, h in enumerate(answer.hits, 1)}
            for group in sup.by_state(answer.hits):
                st.subheader(f"{group.label} · {len(group.hits) + len(group.also)}")
                for hit in group.hits:
                    result_card(hit, rank_of[id(hit)], answer, searcher, style, collected,
                                prefix=f"{group.code or 'none'}-", state=group.code or "")
                if group.also:
                    listed = ", ".join(f"passage {rank_of[id(h)]} (under {sup.escape_html(label)})" for h, label in group.also)
                    st.markdown(f'<div class="kb-also">Also naming {sup.escape_html(us_states.name_of(group.code))}: '
                                f"{listed}</div>", unsafe_allow_html=True)
        else:
            for rank, hit in enumerate(answer.hits, 1):
                result_card(hit, rank, answer, searcher, style, collected)
    if viewing:
        with side:
            source_viewer(viewing, searcher)


def result_controls(answer: Answer) -> str:
    """Citation style, layout (ranked or by state) and the exports of these results; returns the style."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        style = st.selectbox("Citation style", list(cite.STYLES), format_func=cite.STYLES.get, key="style",
                             bind="query-params", width=430)  # the longest label whole
        st.segmented_control("Show", ["Ranked", "By state"], default="Ranked", key="layout",
                             help="By state: the answering passages grouped by the US state they name or "
                                  "their document is about.")
        if answer.hits:
            with st.popover("Export these results", icon=":material/download:"):
                for fmt in sup.EXPORTS:
                    st.download_button(fmt.label, sup.export_text(answer, fmt, style), on_click="ignore",
                                       file_name=f"iecmh-sources-{sup.slug(answer.question)}.{fmt.extension}",
                                       mime=fmt.mime, key=f"export-{fmt.extension}", width="stretch")
    return style or cite.HOUSE


def result_card(hit: Hit, rank: int, answer: Answer, searcher: Searcher, style: str, collected: set[int],
                prefix: str = "", state: str | None = None) -> None:
    pid = hit.passage.id
    with st.container(border=True, key=f"{prefix}card-{pid}"):
        if not answer.answered:
            st.caption("Closest passage — not an answer")
        best = answer.best is not None and answer.answered and answer.best.hit.passage.id == pid
        st.markdown(sup.card_html(hit, rank, best=best, state=state), unsafe_allow_html=True)
        formatted = cite.format_citation(hit, style)
        entry = sup.reference_entry(hit, style)
        st.markdown(f'<div class="kb-cite">{sup.citation_html(formatted.html)}</div>'
                    f'<div class="kb-ref"><span class="kb-ref-label">Reference list</span>'
                    f'{sup.citation_html(entry.html)}</div>', unsafe_allow_html=True)
        st.session_state[f"{prefix}collect-{pid}"] = pid in collected
        with st.container(horizontal=True, vertical_alignment="center"):
            copy_button("Copy citation", formatted, key=f"{prefix}copy-{pid}")
            copy_button("Copy reference", entry, key=f"{prefix}ref-{pid}")
            copy_button("Copy quote + citation", sup.quote_with_citation(hit, style), key=f"{prefix}quote-{pid}")
            st.button("View source", key=f"{prefix}view-{pid}", on_click=st.session_state.update,
                      kwargs={"_view": pid}, icon=":material/find_in_page:",
                      help="Show the passage in its document, beside the answers.")
            open_original(hit, prefix)
            st.checkbox("Collect", key=f"{prefix}collect-{pid}", on_change=toggle_collect, args=(answer, hit, prefix),
                        help="Keep this passage in the collection (sidebar) to export with others.")
            more = st.toggle("More context", key=f"{prefix}ctx-{pid}", help="Show the passages just before and after.")
        if more:
            try:
                around = searcher.neighbours(pid, before=1, after=1)
            except KBError as exc:
                error(exc)
                return
            st.markdown(sup.context_html(around, hit), unsafe_allow_html=True)


def toggle_collect(answer: Answer, hit: Hit, prefix: str) -> None:
    on = bool(st.session_state.get(f"{prefix}collect-{hit.passage.id}"))
    change_workbench(lambda b: wb.collect(b, answer, hit, on))


def paged(document) -> bool:
    """Whether the original opens at a page (PDFs) rather than as text."""
    fmt = formats.by_kind(document.kind)
    return fmt is not None and fmt.view == "pdf"


def open_original(hit: Hit, prefix: str = "") -> None:
    """A link to the original file, handed to this session only (Streamlit's media files: the
    address exists while this page shows it, and never for a removed document or a browser
    that has not signed in): PDFs at the cited page, other formats as plain text (never as
    live HTML)."""
    try:
        source = sup.source_file(hit.document, paged(hit.document), settings().kb_dir)
    except KBError as exc:
        st.caption(sup.escape_markdown(str(exc)))
        return
    url = session_file_url(source, f"kb-source-{hit.document.sha256}")
    if url is not None:
        serving.SOURCES.register(url, hit.document.sha256)  # refused by the server once the document is gone
    if url is None:  # no server session (a script run outside a server): offer a download
        st.download_button("Download original", data=source.data, file_name=source.file_name, mime=source.mime,
                           on_click="ignore", key=f"{prefix}src-{hit.passage.id}", icon=":material/download:")
        return
    link = sup.link_to_source(url, hit.passage, source.as_text, hit.highlights)
    st.link_button(link.label, link.url, icon=":material/open_in_new:",
                   help="Opens the original file in a new tab" + (" as plain text." if link.as_text else
                                                                   " at the cited page."))


def session_file_url(source: sup.SourceFile, coordinates: str) -> str | None:
    """A relative address for `source` in Streamlit's media files, tied to this session and
    dropped when a run of this session no longer shows it (or the session ends)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    url = Runtime.instance().media_file_mgr.add(source.data, source.mime, coordinates, file_name=source.file_name)
    return url.lstrip("/")  # relative, so it also works under server.baseUrlPath


@st.cache_data(max_entries=32, show_spinner=False)
def page_image(path: str, page: int, passage_text: str, highlights: tuple[str, ...]) -> viewer.PageImage:
    return viewer.pdf_page_image(path, page, passage_text, list(highlights))


def source_viewer(hit: Hit, searcher: Searcher) -> None:
    """The cited passage in its document: the PDF page with the passage marked, or the
    document's text with the passage marked and scrolled to."""
    doc, passage = hit.document, hit.passage
    with st.container(horizontal=True, vertical_alignment="center"):
        st.subheader("Source", anchor=False)
        st.button("Close", key="close-viewer", on_click=st.session_state.pop, args=("_view", None),
                  icon=":material/close:")
    st.markdown(f'<div class="kb-meta kb-viewer-head"><strong>{sup.escape_html(doc.title)}</strong> · '
                f'{" · ".join(sup.escape_html(p) for p in sup.meta_parts(doc, passage))}</div>', unsafe_allow_html=True)
    sentences = [passage.text[s:e] for s, e in hit.highlights if e > s]
    try:
        if paged(doc) and passage.page:
            source = sup.verified_source_path(doc, settings().kb_dir)
            pages = viewer.passage_pages(passage)
            images = [page_image(str(source), page, passage.text, tuple(sentences)) for page in pages]
            for page, image in zip(pages, images):
                label = (passage.page_label if page == passage.page else passage.end_page_label) or page
                closeup = viewer.closeup(image)
                if closeup is not None:  # the marked lines, wide enough to read beside the answers
                    st.image(closeup, caption=f"Page {label}, the passage close up", width="stretch")
                st.image(image.png, caption=f"Page {label}: the passage is marked in yellow, its answering sentence "
                                            "darker." + (" It goes on over the page." if page != pages[-1] else ""),
                         width="stretch")
            if not any(image.marked for image in images):
                st.caption("The passage could not be found in this page's own text (a scanned page?); read the "
                           "card's text instead.")
        else:
            passages = searcher.reader().document_passages(doc.id)
            with st.container(height=620, key="viewer-text", autoscroll=False):
                st.markdown(viewer.text_view_html(passages, passage.id, hit.highlights), unsafe_allow_html=True)
            components()["scroll"](data={"passage": passage.id}, key="viewer-scroll")
    except (KBError, ValueError, OSError) as exc:
        error(exc)
    open_original(hit, prefix="viewer-")


def first_run(s: Settings) -> None:
    folder = corpus()
    files = corpus_files(folder)
    st.title("Welcome to the IECMH policy knowledge base")
    asked = " ".join((st.query_params.get("q") or "").split())
    st.info("The knowledge base is empty: there are no documents to search yet" + (
        f", so “{sup.escape_markdown(asked)}” cannot be answered. Once documents are added, reload this page to "
        "ask it." if asked else "."), icon=":material/info:")
    st.caption(f"Knowledge base folder: {sup.escape_markdown(str(s.kb_dir))}")
    if s.read_only:
        st.warning("This app is read-only (KB\\_READ\\_ONLY): an administrator adds documents with `kb ingest`.")
    elif files:
        st.write(f"The corpus folder holds {len(files)} document(s) ready to add:")
        st.text("\n".join(f"• {f.relative_to(folder)}" for f in files))
        if st.button(f"Ingest the shipped corpus ({len(files)} documents)", type="primary", key="ingest-corpus",
                     icon=":material/upload:"):
            if run_ingest([folder], s) is not None:
                st.rerun()
    else:
        st.warning(f"The corpus folder {sup.escape_markdown(str(folder))} has no documents "
                   f"({', '.join(ALLOWED_SUFFIXES)}). Add some on the Library page.")
    st.page_link(PAGES["library"], label="The Library page", icon=":material/library_books:")


# ---- the Library page ------------------------------------------------------------------------------

def library_page() -> None:
    s = settings()
    backend = open_backend(s)
    folder = corpus()
    st.title("Library")
    show_flash()
    try:
        rows, problems = sup.library_rows(backend)
        documents = backend.documents() if backend.exists() else []
    except KBError as exc:
        error(exc)
        rows, problems, documents = [], [], []
    passages = sum(r["Passages"] for r in rows)
    st.caption(f"{len(rows)} documents · {passages} passages · knowledge base at {sup.escape_markdown(str(s.kb_dir))}"
               + (" · read-only" if s.read_only else ""))
    if len(rows) > sup.LIBRARY_TABLE_LIMIT:  # a page of HTML that long would slow every run: the grid alone
        st.dataframe(rows, hide_index=True, width="stretch")
    elif rows:
        # cells that wrap: every column readable in the page's width (a data grid cuts long titles and
        # reaches the file only by scrolling sideways); the grid, to sort, search or download, on request
        st.markdown(sup.LIBRARY_CSS + sup.library_table_html(rows, folder), unsafe_allow_html=True)
        with st.expander("Sort, search or download the table", icon=":material/table_view:"):
            st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.info("No documents yet: add some below, or ingest the corpus folder.")
    if problems:
        st.subheader("Ingestion problems")
        st.caption("Files that could not be ingested the last time they were read.")
        st.dataframe(problems, hide_index=True, width="stretch")
    if s.read_only:
        st.info("This library is read-only (KB\\_READ\\_ONLY): documents cannot be uploaded, edited, deleted or "
                "ingested here.", icon=":material/lock:")
        return
    if documents:
        edit_document(documents, folder, s)
    if problems:
        rejected_files(problems, folder, s)
    add_documents(folder, backend, s)


def edit_document(documents: list, folder: Path, s: Settings) -> None:
    """Metadata form, re-ingest and delete for one document."""
    from ingest import library

    st.subheader("Edit a document")
    by_path = {d.path: d for d in documents}
    path = st.selectbox("Document", list(by_path), key="edit-doc",
                        format_func=lambda p: f"{by_path[p].title} — {by_path[p].name}")
    doc = by_path[path]
    with st.form(key=f"meta-{doc.id}-{doc.sha256[:8]}"):
        st.caption("Saved to metadata.json beside the file and applied at once, without embedding anything again. "
                   "Leave a field empty to use what the file itself says.")
        title = st.text_input("Title", doc.title, key=f"meta-title-{doc.id}")
        publisher = st.text_input("Publisher", doc.publisher or "", key=f"meta-publisher-{doc.id}")
        left, right = st.columns(2)
        year = left.text_input("Year", str(doc.year or ""), key=f"meta-year-{doc.id}", placeholder="e.g. 2021")
        doc_type = right.text_input("Document type", doc.doc_type or "", key=f"meta-type-{doc.id}",
                                    placeholder="e.g. policy brief, report")
        url = st.text_input("URL", doc.url or "", key=f"meta-url-{doc.id}", placeholder="https://…")
        states = st.multiselect("US states the document is about", list(us_states.STATES), default=list(doc.states),
                                format_func=sup.state_label, key=f"meta-states-{doc.id}")
        if st.form_submit_button("Save metadata", type="primary", icon=":material/save:"):
            values = {"title": title, "publisher": publisher, "year": year, "type": doc_type, "url": url,
                      "states": states}
            if with_progress(lambda progress: library.edit_metadata(
                    s, doc.path, values, embedder=sup.shared_searcher(s).embedder, progress=progress),
                    headline=lambda r: f"Metadata of {sup.escape_markdown(doc.name)} saved in {r.seconds:.1f} s" + (
                        ", without embedding anything again." if not r.model_loaded else
                        " (the file had changed, so it was read and embedded again).")) is not None:
                st.rerun()
    with st.container(horizontal=True):
        if st.button("Re-ingest this document", key="reingest", icon=":material/refresh:",
                     help="Read, split and embed it again (after the file or a reader changed)."):
            if with_progress(lambda progress: library.reingest_document(
                    s, doc.path, embedder=sup.shared_searcher(s).embedder, progress=progress),
                    headline=lambda r: f"{sup.escape_markdown(doc.name)} was read and embedded again "
                                       f"({r.new_passages} passages) in {r.seconds:.1f} s.") is not None:
                st.rerun()
        with st.popover("Delete this document", icon=":material/delete:"):
            st.write(f"Delete **{sup.escape_markdown(doc.name)}**: its passages leave the knowledge base, and the "
                     "file is deleted when it is in the corpus folder.")
            if st.button("Delete", type="primary", key="delete-doc"):
                try:
                    flash("success", sup.escape_markdown(library.delete_document(s, doc.path, folder).message))
                except KBError as exc:
                    error(exc)
                else:
                    st.rerun()


def rejected_files(problems: list[dict], folder: Path, s: Settings) -> None:
    from ingest import library

    paths = [p["Path"] for p in problems]
    with st.container(horizontal=True, vertical_alignment="bottom"):
        chosen = st.selectbox("Rejected file", paths, key="rejected", format_func=lambda p: Path(p).name)
        remove_one = st.button("Remove it", key="remove-rejected", icon=":material/delete:",
                               help="Deletes the file from the corpus folder (files elsewhere are only unlisted).")
        remove_all = st.button(f"Remove all {len(paths)}", key="remove-all-rejected", icon=":material/delete_sweep:")
    if remove_one or remove_all:
        for path in paths if remove_all else [chosen]:
            try:
                flash("info", sup.escape_markdown(library.remove_rejected(s, path, folder).message))
            except KBError as exc:
                flash("error", sup.escape_markdown(str(exc)))
        st.rerun()


def add_documents(folder: Path, backend: Backend, s: Settings) -> None:
    from ingest import library

    st.subheader("Add documents")
    st.caption(f"Accepted: {', '.join(ALLOWED_SUFFIXES)}, up to {s.upload_limit_mb} MB each, the corpus folder up to "
               f"{s.upload_quota_mb} MB in all. Files are saved in {sup.escape_markdown(str(folder))} (set KB\\_CORPUS "
               "to change it) and ingested at once.")
    generation = st.session_state.setdefault("_uploader", 0)
    serving.UPLOADS.allow(session_id())  # the upload endpoint takes files for this session now
    st.session_state["_uploads_open"] = True
    uploads = st.file_uploader("Files to add", type=list(ALLOWED_TYPES), accept_multiple_files=True,
                               max_upload_size=s.upload_limit_mb, key=f"uploader-{generation}")
    if st.button("Add to the knowledge base", type="primary", disabled=not uploads, key="add-uploads",
                 icon=":material/upload_file:"):
        try:
            known = sup.known_hashes(backend)
        except KBError:
            known = {}
        result = library.save_uploads_within_quota(s, folder, [(f.name, f.getvalue()) for f in uploads], known)
        for rejected in result.rejected:
            flash("error", sup.escape_markdown(str(rejected)))
        for saved in result.saved:
            if saved.renamed:
                flash("info", f"{sup.escape_markdown(saved.original_name)} was saved as "
                              f"{sup.escape_markdown(saved.path.name)}.")
        if result.saved:
            run_ingest([saved.path for saved in result.saved], s)
        st.session_state["_uploader"] = generation + 1  # empty the uploader
        st.rerun()

    with st.form("add-address", clear_on_submit=True, border=False):
        address = st.text_input("Add a web address", key="address", placeholder="https://…",
                                help="The page is fetched, read and ingested like a file.")
        if st.form_submit_button("Add address", icon=":material/link:") and address.strip():
            if run_ingest([address.strip()], s) is not None:
                st.rerun()

    st.subheader("Corpus folder")
    st.caption("Re-read the corpus folder: new and changed files are ingested, removed files leave the knowledge base.")
    if st.button("Re-scan the corpus folder", key="rescan", icon=":material/refresh:"):
        if run_ingest([folder], s) is not None:
            st.rerun()


# ---- navigation, sign-in ---------------------------------------------------------------------------

def sidebar_settings(s: Settings) -> None:
    with st.sidebar.expander("Settings", icon=":material/settings:"):
        st.caption(f"Knowledge base: {sup.escape_markdown(str(s.kb_dir))}  \n"
                   f"Corpus folder: {sup.escape_markdown(str(corpus()))}  \n"
                   f"Model: {sup.escape_markdown(s.model)} ({s.device})  \n"
                   f"Reranker: {sup.escape_markdown(s.reranker or 'none')}  \n"
                   f"Upload limit: {s.upload_limit_mb} MB per file, {s.upload_quota_mb} MB in all"
                   + ("  \nRead-only" if s.read_only else ""))
        st.caption("Set with KB\\_DIR, KB\\_CORPUS, KB\\_MODEL, KB\\_RERANKER, KB\\_UPLOAD\\_LIMIT\\_MB, "
                   "KB\\_UPLOAD\\_QUOTA\\_MB, KB\\_READ\\_ONLY or the config file.")
        if login_required() and st.user.get("is_logged_in"):
            st.button("Log out", on_click=st.logout, key="logout")


def login_required() -> bool:
    """Streamlit's built-in OIDC login is on when .streamlit/secrets.toml has an [auth] section."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def signed_in() -> bool:
    """The gate before any page: a login when one is configured; refused outright when the
    server listens beyond this machine with no login (serving to others is deliberate)."""
    if login_required():
        if st.user.get("is_logged_in"):
            return True
        st.title("IECMH policy knowledge base")
        st.write("Log in to use the knowledge base.")
        st.button("Log in", type="primary", on_click=st.login, key="login", icon=":material/login:")
        return False
    if not sup.is_loopback(st.get_option("server.address")):
        st.error("This app is listening beyond this machine without a login. Configure Streamlit's login ([auth] "
                 "in .streamlit/secrets.toml), or bind it to 127.0.0.1 behind a reverse proxy that authenticates "
                 "(see the README, “Serving it to others”).", icon=":material/lock:")
        return False
    return True


PAGES: dict = {}  # url path -> st.Page, for links between pages


def session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def main() -> None:
    # A local image, not an emoji (checking one loads Streamlit's emoji catalogue, ~0.25 s of the first page) nor a
    # Material icon (the browser fetches those from Google's font server: this tool makes no outside requests).
    st.set_page_config(page_title="IECMH policy knowledge base", page_icon=str(FAVICON), layout="wide")
    st.session_state["_uploads_open"] = False
    try:
        if not signed_in():
            return
        s = settings()
        PAGES["ask"] = st.Page(ask_page, title="Ask", icon=":material/search:", default=True)
        PAGES["library"] = st.Page(library_page, title="Library", icon=":material/library_books:", url_path="library")
        st.navigation(list(PAGES.values())).run()
        sidebar_settings(s)
    finally:
        if not st.session_state.get("_uploads_open"):  # no uploader on this page: the endpoint refuses this session
            serving.UPLOADS.deny(session_id())


# ---- server start ----------------------------------------------------------------------------------

def server_start() -> threading.Thread | None:
    """Done once when the server starts, so the first browser does not wait for it: start
    loading the model and index in the background (announced on stderr when ready), and skip
    a check Streamlit would otherwise make on the first page. Returns the loading thread (None
    when the settings are unreadable: the page reports that)."""
    # On the first element any script writes, Streamlit checks once per process whether it runs
    # outside a server (to print "use streamlit run"); the check walks inspect.stack(), about
    # 0.3 s of the first page. Inside a server it can never print anything, so mark it done.
    from streamlit import delta_generator

    if hasattr(delta_generator, "_use_warning_has_been_displayed"):
        delta_generator._use_warning_has_been_displayed = True
    no_outside_lookups()
    sup.remove_stale_sources(STATIC_DIR, set())  # copies an earlier version published for its static route
    try:
        s = load_settings()
    except KBError:
        return None
    # Streamlit's own upload endpoint refuses anything over the app's per-file limit.
    from streamlit import config as st_config

    st_config.set_option("server.maxUploadSize", s.upload_limit_mb, "kb settings (KB_UPLOAD_LIMIT_MB)")
    serving.SOURCES.still_held = sup.document_hashes_check(s)
    started = time.perf_counter()
    loading = sup.preload(s)

    def announce() -> None:
        loading.join()
        if sup.shared_searcher(s).embedder.loaded:
            print(f"  Model and index loaded at server start in {time.perf_counter() - started:.1f} s.",
                  file=sys.stderr, flush=True)
        else:
            print("  The model could not be loaded at server start: the first question reports why.",
                  file=sys.stderr, flush=True)

    threading.Thread(target=announce, name="kb-preload-announce", daemon=True).start()
    return loading


def no_outside_lookups() -> None:
    """Streamlit asks checkip.amazonaws.com for this machine's public address when it listens
    on every interface (to print an "External URL" and to widen its allowed origins). An
    offline tool makes no outside request: the address is never looked up."""
    from streamlit import net_util

    net_util.get_external_ip = lambda: None


@contextlib.asynccontextmanager
async def lifespan(_app):
    server_start()
    yield


def launch() -> None:
    """`python app.py [streamlit flags]`: the same as `streamlit run app.py [flags]`."""
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(Path(__file__).resolve()), *sys.argv[1:]]
    cli.main()


# Run by Streamlit's script runner as __main__ (its runtime up): the page. Run by Python directly
# (no runtime yet): the launcher. Imported as a module by `streamlit run` (or the launcher) to
# find the ASGI app: `app`, serving this file. Ingestion reads files in worker processes started
# with "spawn", which import this file as __mp_main__: nothing runs there.
if __name__ == "__main__":
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx() is not None:
        main()
    else:
        launch()
elif __name__ != "__mp_main__":
    from starlette.middleware import Middleware

    no_outside_lookups()  # before the server starts and prints its addresses
    app = st.App(__file__, lifespan=lifespan, middleware=[Middleware(serving.ServingGuard)])
