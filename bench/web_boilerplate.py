"""How much of what gets indexed from a web page is boilerplate, before and after main-content
extraction, and how much of the content survives.

The pages are written here to look like the sources of corpus/: the text of each shipped
seed (corpus/*.txt, *.md) is the content, set into the page furniture of a kind of site it
came from (a state agency's Drupal page, a nonprofit's WordPress page, a federal technical-
assistance centre's topic page): cookie banner, skip link, mega-menu navigation, breadcrumbs,
sidebar, "was this page helpful" form, newsletter and donation appeals, share buttons, footer.
Each page is read three ways:
- before: every visible text of the page (the reader before this change: scripts, styles,
  <nav> and hidden elements dropped, everything else kept);
- trafilatura alone: its text output (what the library keeps);
- after: `ingest.formats.html.extract_html` (trafilatura locates the content, the element
  holding it is read whole, page furniture dropped).
A block (paragraph, item, row) of the extracted text is content when it occurs in the seed's
own text, boilerplate otherwise; shares are of words. Content recall is the share of the
seed's words whose block was extracted.

    python bench/web_boilerplate.py
"""
from __future__ import annotations

import html
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchlib import load_note, table  # noqa: E402
from ingest.formats.html import extract_html, html_to_pages  # noqa: E402
from ingest.formats.text import text_headings  # noqa: E402
from kb.text import collapse  # noqa: E402

CORPUS = ROOT / "corpus"
LIST_ITEM = re.compile(r"^\s*(?:[-•*]|\d{1,2}\.)\s+")


def seed_lines(text: str) -> list[tuple[str, str]]:
    """(kind, text) of a seed's lines: "h" heading, "li" list item, "p" paragraph; Markdown
    markup and footnote lines left out."""
    headings = {off for off, _ in text_headings(text)}
    out, pos = [], 0
    for line in text.split("\n"):
        start, pos = pos, pos + len(line) + 1
        stripped = line.strip()
        if not stripped or stripped.startswith("<sup>") or stripped == "---":
            continue
        is_heading = line.startswith("#") or start + len(line) - len(line.lstrip()) in headings
        stripped = collapse(re.sub(r"^#+\s*", "", re.sub(r"\*\*(.+?)\*\*", r"\1", stripped)))
        if LIST_ITEM.match(line):
            out.append(("li", LIST_ITEM.sub("", stripped)))
        else:
            out.append(("h" if is_heading else "p", stripped))
    return out


def content_html(lines: list[tuple[str, str]]) -> str:
    """A seed's text as the content HTML of its page: headings, paragraphs, and lists whose
    items are links (as on resource lists)."""
    out, in_list = [], False
    for kind, text in lines:
        if kind == "li" and not in_list:
            out.append("<ul>")
        if in_list and kind != "li":
            out.append("</ul>")
        in_list = kind == "li"
        body = html.escape(text)
        out.append(f'<li><a href="/r/{len(out)}">{body}</a></li>' if kind == "li" else f"<{kind if kind == 'p' else 'h2'}>"
                   f"{body}</{kind if kind == 'p' else 'h2'}>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


MENU = ["Home", "About Us", "Programs & Services", "Early Childhood", "Mental Health", "Family Support",
        "Licensing", "News & Events", "Publications", "Data & Reports", "Contact Us", "Careers"]


def agency_page(title: str, content: str) -> str:
    """A state agency on a Drupal-like platform (the Massachusetts page's kind)."""
    menu = "".join(f'<li class="menu-item"><a href="/{i}">{m}</a><ul class="submenu">'
                   + "".join(f'<li><a href="/{i}/{j}">{m} topic {j}</a></li>' for j in range(4)) + "</ul></li>"
                   for i, m in enumerate(MENU))
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title} | Mass.gov</title>
<meta property="og:site_name" content="Mass.gov"></head><body>
<a class="skip-link" href="#main-content">Skip to main content</a>
<div class="ma__emergency-alerts"><p>An official website of the Commonwealth of Massachusetts. Here's how you know</p></div>
<header class="ma__header"><div class="ma__header__logo"><a href="/">Mass.gov</a></div>
<form role="search"><input type="search" placeholder="Search Mass.gov"></form>
<nav aria-label="main navigation"><ul>{menu}</ul></nav></header>
<main id="main-content"><div class="ma__breadcrumbs"><a href="/">Home</a> &gt; <a href="/orgs/dmh">Department of
Mental Health</a> &gt; <span>{title}</span></div>
<div class="ma__page-header"><span class="ma__page-header__category">Guide</span><h1>{title}</h1>
<p class="ma__page-header__sub">Offered by Department of Mental Health</p></div>
<div class="ma__rich-text">{content}</div>
<section class="ma__feedback" aria-label="feedback"><h2>Help Us Improve Mass.gov with your feedback</h2>
<p>Did you find what you were looking for on this webpage?</p><p>Please do not include personal or contact
information. You will not get a response to your feedback.</p></section></main>
<footer class="ma__footer"><ul><li><a>Site Policies</a></li><li><a>Public Records Requests</a></li>
<li><a>Accessibility</a></li><li><a>Language Access</a></li></ul>
<p>© 2024 Commonwealth of Massachusetts. Mass.gov® is a registered service mark of the Commonwealth of
Massachusetts. Mass.gov Privacy Policy</p></footer></body></html>"""


def nonprofit_page(title: str, content: str) -> str:
    """A national nonprofit on WordPress (the ZERO TO THREE page's kind)."""
    return f"""<!DOCTYPE html><html><head><title>{title} • ZERO TO THREE</title>
<meta property="og:site_name" content="ZERO TO THREE"><meta property="article:published_time" content="2021-06-14T09:00:00+00:00">
</head><body class="post-template">
<div id="cookie-notice" class="cookie-notice"><p>We use cookies to ensure that we give you the best experience on
our website. If you continue to use this site we will assume that you are happy with it.</p><a>Ok</a><a>Privacy policy</a></div>
<div class="top-bar"><a>Donate</a> <a>Sign Up</a> <a>Shop</a> <a>Log in</a></div>
<header id="masthead" class="site-header"><nav id="site-navigation" class="main-navigation"><ul class="menu">
<li>Resources</li><li>Policy &amp; Advocacy</li><li>Early Learning</li><li>Parenting</li><li>About</li></ul></nav></header>
<div id="content" class="site-content"><div class="breadcrumbs"><span><a>Home</a></span> / <span><a>Resources</a></span> /
<span>Infant and Early Childhood Mental Health</span></div>
<article class="post"><header class="entry-header"><h1 class="entry-title">{title}</h1>
<div class="entry-meta">Resource • Policy planning tool</div></header>
<div class="sharedaddy sd-sharing-enabled"><h3>Share this:</h3><ul><li>Facebook</li><li>Twitter</li><li>LinkedIn</li><li>Email</li></ul></div>
<div class="entry-content">{content}</div>
<footer class="entry-footer"><span class="tags-links">Tags: IECMH, State Policy, Planning</span></footer></article>
<aside id="secondary" class="widget-area"><section class="widget"><h2>Related Resources</h2><ul>
<li><a>Infant and Early Childhood Mental Health Policy Series</a></li><li><a>Building Strong Foundations</a></li>
<li><a>State of Babies Yearbook</a></li></ul></section>
<section class="widget newsletter"><h2>Join our Policy Network!</h2><p>Get the latest policy news and calls to action
delivered to your inbox.</p><form><input type="email"></form></section></aside></div>
<div class="donate-banner"><p>We need your support now more than ever to ensure all babies have access to the quality
care, services and support they need to thrive.</p><a>Give now</a></div>
<footer id="colophon" class="site-footer"><p>ZERO TO THREE is a 501(c)(3) nonprofit organization. © 2024 ZERO TO THREE.
All rights reserved.</p><ul><li>Careers</li><li>Press Room</li><li>Contact Us</li><li>Terms of Use</li></ul></footer>
</body></html>"""


def ta_center_page(title: str, content: str) -> str:
    """A federal technical-assistance centre's topic page (the ECTA page's kind): table-free
    layout with a left menu, an 'On This Page' box and a topic editor credit."""
    side = "".join(f"<li><a>{t}</a></li>" for t in ("Topics", "Child Outcomes", "Family Outcomes", "Funding",
                                                     "Natural Environments", "Transition", "Webinars"))
    return f"""<!DOCTYPE html><html><head><title>ECTA Center: {title}</title></head><body>
<div id="header"><div id="logo"><a>The Early Childhood Technical Assistance Center</a></div>
<div id="topmenu"><a>Home</a> | <a>About</a> | <a>Contact</a> | <a>Search</a></div></div>
<div id="leftcolumn" class="sidebar"><ul>{side}</ul></div>
<div id="maincontent"><p class="breadcrumb"><a>Home</a> » <a>Topics</a> » {title}</p>
<h1>{title}</h1><div class="editor-box">Topic Editor: Andy Gomm<br>andypgomm@gmail.com</div>
<div class="toc"><h2>On This Page</h2><ul><li><a href="#a">What is it?</a></li><li><a href="#b">Resources</a></li></ul></div>
{content}
<p class="back-to-top"><a href="#top">Back to Top</a></p></div>
<div id="footer"><p>The contents of this website were developed under a cooperative agreement with the U.S.
Department of Education, Office of Special Education Programs. However, those contents do not necessarily
represent the policy of the Department of Education.</p><p>Privacy Policy | Accessibility | Disclaimer</p></div>
</body></html>"""


SITES = {"state agency (Drupal)": agency_page, "nonprofit (WordPress)": nonprofit_page,
         "TA centre (topic page)": ta_center_page}


def blocks(text: str) -> list[str]:
    return [collapse(b) for b in re.split(r"\n|\t", text) if b.strip()]


def measure(extracted: str, truth: list[str]) -> tuple[int, int, float, list[str]]:
    """(content words, boilerplate words, content recall, boilerplate blocks)."""
    joined = " ".join(truth)
    content = boiler = 0
    found, leaked = [], []
    for block in blocks(extracted):
        words = len(block.split())
        if block in joined:
            content += words
            found.append(block)
        else:
            boiler += words
            leaked.append(block)
    kept = " ".join(found)
    total = sum(len(b.split()) for b in truth)
    recalled = sum(len(b.split()) for b in truth if b in kept)
    return content, boiler, recalled / total if total else 0.0, leaked


def trafilatura_text(page: str) -> str:
    import trafilatura

    return trafilatura.extract(page, include_tables=True, deduplicate=False) or ""


def main() -> None:
    seeds = sorted(p for p in CORPUS.iterdir() if p.suffix in (".txt", ".md"))
    rows, totals = [], {k: [0, 0, 0.0] for k in ("before", "trafilatura", "after")}
    leaks: dict[str, int] = {}
    for seed in seeds:
        lines = seed_lines(seed.read_text(encoding="utf-8"))
        truth = [text for _, text in lines]
        title = truth[0]
        for site, make in SITES.items():
            page = make(html.escape(title), content_html(lines[1:]))
            readings = {"before": html_to_pages(page).pages[0].text, "trafilatura": trafilatura_text(page),
                        "after": extract_html(page.encode("utf-8")).pages[0].text}
            row = [seed.name, site]
            for key, text in readings.items():
                content, boiler, recall, leaked = measure(text, truth)
                if key == "after":
                    for block in leaked:
                        leaks[block] = leaks.get(block, 0) + 1
                totals[key][0] += content
                totals[key][1] += boiler
                totals[key][2] += recall
                row += [f"{boiler / max(content + boiler, 1):.1%}", f"{recall:.1%}"]
            rows.append(row)
    n = len(rows)
    print(f"## Boilerplate in indexed words, {n} pages ({len(seeds)} seeds × {len(SITES)} site styles); {load_note()}\n")
    print(table(["seed", "site style", "before: boilerplate", "before: content kept", "trafilatura alone: boilerplate",
                 "trafilatura alone: content kept", "after: boilerplate", "after: content kept"], rows))
    print()
    summary = []
    for key, (content, boiler, recall) in totals.items():
        summary.append([{"before": "before (whole page)", "trafilatura": "trafilatura alone",
                         "after": "after (this reader)"}[key], f"{boiler:,}", f"{content:,}",
                         f"{boiler / max(content + boiler, 1):.1%}", f"{recall / n:.1%}"])
    print(table(["reading", "boilerplate words", "content words", "share boilerplate", "content kept (mean)"], summary))
    print("\nBoilerplate still indexed after (block: pages):\n")
    print(table(["block", "pages"], [[b[:100], n] for b, n in sorted(leaks.items(), key=lambda kv: -kv[1])]))


if __name__ == "__main__":
    main()
