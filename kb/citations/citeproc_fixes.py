"""Two gaps in citeproc-py 0.11 that put defects into pasted references, closed here, and one
cost.

1. CSL says a variable that stood in for a missing author is suppressed for the rest of the
entry. citeproc-py suppresses it only when the substitute names the variable directly; the
official APA and Chicago styles substitute the title through a macro, so a document without a
publisher printed its title twice ("Title. (n.d.). Title."; citeproc-py issue #91). Here the
variables a substitute actually rendered are recorded and suppressed, macro or not.

2. Sort keys rendered from macros keep the style's formatting: quotation marks around a title
("“IECMH Resources”") and our markup markers sort after every letter, so authorless documents
fell to the end of the reference list. Keys are compared without them.

3. Every macro reference was looked up by XPath over the whole style (over a third of the
rendering time); a style's macros are now found once, in a table kept on its root element.

Installed once by `install()`; pinned to citeproc-py 0.11 (tests render an authorless item).
"""
from __future__ import annotations

from contextvars import ContextVar

from citeproc import model

TEXT_TAG = "{http://purl.org/net/xbiblio/csl}text"
MARKUP_MARKERS = "".join(chr(c) for c in range(0xE000, 0xE010))  # private use: styles.py's markup
_NOT_SORTED = {ord(c): None for c in MARKUP_MARKERS + "“”‘’\"'"}
_rendered: ContextVar[set | None] = ContextVar("csl_substituted_variables", default=None)
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    render_variable, render_substitute, sort_keys = model.Text._variable, model.Substitute.render, model.Key.sort_keys
    find_macro = model.CitationStylesElement.get_macro

    def variable(self, item, context):
        text = render_variable(self, item, context)
        seen = _rendered.get()
        if text and seen is not None:
            seen.add(self.get("variable"))
        return text

    def substitute(self, item, context=None, **kwargs):
        seen: set = set()
        token = _rendered.set(seen)
        try:
            text = render_substitute(self, item, context=context, **kwargs)
        finally:
            _rendered.reset(token)
        if text:
            context.get_layout().repressed.setdefault(TEXT_TAG, []).extend(seen)
            if (outer := _rendered.get()) is not None:
                outer.update(seen)
        return text

    def sortable_keys(self, items, context):
        return [str(key).translate(_NOT_SORTED) if hasattr(key, "lower") else key
                for key in sort_keys(self, items, context)]

    def get_macro(self, name):
        root = self.get_root()
        macros = root.__dict__.setdefault("_macros", {})
        if name not in macros:
            macros[name] = find_macro(self, name)
        return macros[name]

    model.Text._variable, model.Substitute.render, model.Key.sort_keys = variable, substitute, sortable_keys
    model.CitationStylesElement.get_macro = get_macro
    _installed = True
