"""How much of what gets indexed from a web page is boilerplate, before and after main-content
extraction, and how much of the content survives.

The pages are written here to look like the sources of corpus/: the text of each shipped
seed (corpus/*.txt, *.md) is the content, set into the page furniture of a kind of site it
came from (a state agency's Drupal page, a nonprofit's WordPress page, a federal technical-
assistance centre's topic page, and the three older kinds many state agencies still run: an
ASP.NET WebForms page and a SharePoint page, each wrapping the whole body in one
`<form id="aspnetForm">`, and a page laid out in a table): cookie banner, skip link, mega-menu
navigation, breadcrumbs, sidebar, "was this page helpful" form, newsletter and donation appeals,
share buttons, "Print this page | Email this page", an in-page table of contents, "Return to
Top" links, a printed "Last reviewed" date, footer.
Each page is read three ways:
- before: every visible text of the page (the reader before this change: scripts, styles,
  <nav> and hidden elements dropped, everything else kept);
- trafilatura alone: its text output (what the library keeps);
- after: `ingest.formats.html.extract_html` (trafilatura locates the content, the element
  holding it is read whole, page furniture dropped).
A block (paragraph, item, row) of the extracted text is content when it occurs in the seed's
own text, boilerplate otherwise; shares are of words. Content recall is the share of the
seed's words whose block was extracted. For the reader ("after") the passages the splitter
makes are also searched for navigation phrases (NAV_PHRASES) and for the in-page table of
contents, and a page that reads as no text at all is counted as empty.

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
from ingest.split import split_pages  # noqa: E402
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


def _headings(content: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", content)


def _anchored(content: str) -> str:
    """The content with an id on every section heading and a "Return to Top" link after each
    section, as older agency pages have them."""
    count = iter(range(1000))
    content = re.sub(r"<h2>", lambda m: f'<p><a href="#top">Return to Top</a></p><h2 id="s{next(count)}">', content)
    return content + '<p><a href="#top">Return to Top</a></p>'


def _jump_list(content: str, heading: str) -> str:
    items = "".join(f'<li><a href="#s{i}">{h}</a></li>' for i, h in enumerate(_headings(content)))
    return f"<p><strong>{heading}</strong></p><ul>{items}</ul>" if items else ""


VIEWSTATE = ('<div class="aspNetHidden"><input type="hidden" name="__EVENTTARGET" id="__EVENTTARGET" value="" />'
             '<input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="/wEPDwUKMTY1NDU2MTA1Mg9kFgJmD2QWAgIDD2QWBgIB'
             'D2QWAgIBDxYCHgRUZXh0BRdEZXBhcnRtZW50IG9mIEh1bWFuIFNlcnZpY2VzZGQ=" /></div>'
             '<script type="text/javascript">//<![CDATA[\nvar theForm = document.forms[\'aspnetForm\'];\n//]]></script>')


def webforms_page(title: str, content: str) -> str:
    """A state agency on classic ASP.NET WebForms: the whole body is one <form>, the menu is an
    asp:Menu table, page tools and "Return to Top" links are plain links, the date is printed."""
    menu = "".join(f'<td><a class="ctl00_Menu1_1" href="/{i}.aspx">{m}</a></td>' for i, m in enumerate(MENU))
    return f"""<!DOCTYPE html><html><head><title>{title} - Oregon Department of Human Services</title>
<meta name="author" content="Nguyen, Linda"><meta name="keywords" content="IECMH, early childhood"></head>
<body><form name="aspnetForm" method="post" action="./Page.aspx?id=114" id="aspnetForm">{VIEWSTATE}
<div id="wrapper"><a id="top"></a><div id="ctl00_pnlHeader"><a href="#ctl00_main" id="ctl00_lnkSkip">Skip to main content</a>
<div id="ctl00_pnlAgency"><a href="/"><img src="/img/seal.png" alt="State of Oregon seal"></a>
<span id="ctl00_lblAgency" class="agencyName">Oregon Department of Human Services</span></div>
<div id="ctl00_pnlSearch"><label for="q">Search this site</label><input name="q" id="q" type="text"><input type="submit" value="Go"></div>
<table id="ctl00_Menu1" class="ctl00_Menu1_2" cellpadding="0" cellspacing="0" border="0"><tr>{menu}</tr></table></div>
<div id="ctl00_main"><div id="ctl00_ContentPlaceHolder1_pnlTools" class="pageTools"><a href="javascript:window.print()">Print this page</a> |
<a href="mailto:?subject={title}">Email this page</a> | <a href="/share">Share</a></div>
<h1>{title}</h1><div id="ctl00_ContentPlaceHolder1_pnlJump">{_jump_list(content, "On this page")}</div>
<div id="ctl00_ContentPlaceHolder1_pnlBody">{_anchored(content)}</div>
<p id="ctl00_ContentPlaceHolder1_lblUpdated">Page updated: March 14, 2019</p></div>
<div id="ctl00_pnlFooter"><p>Oregon Department of Human Services, 500 Summer St NE, Salem, OR 97301. Phone: 503-945-5600</p>
<p><a href="/privacy.aspx">Privacy</a> | <a href="/accessibility.aspx">Accessibility</a> | <a href="/sitemap.aspx">Site Map</a></p></div>
</div></form></body></html>"""


def sharepoint_page(title: str, content: str) -> str:
    """A state agency on SharePoint 2013: <form id="aspnetForm"> around the ribbon and
    #s4-workspace; the content in #DeltaPlaceHolderMain's rich-text fields."""
    quick = "".join(f'<li class="static"><a class="static menu-item ms-core-listMenu-item" href="/{i}">'
                    f'<span class="menu-item-text">{m}</span></a></li>' for i, m in enumerate(MENU))
    return f"""<!DOCTYPE html><html dir="ltr" lang="en-US"><head><meta name="GENERATOR" content="Microsoft SharePoint">
<meta http-equiv="X-UA-Compatible" content="IE=10"><title>
	{title}
</title><meta name="description" content="Infant and early childhood mental health"></head>
<body><div id="imgPrefetch" style="display:none"><img src="/_layouts/15/images/spcommon.png"></div>
<form method="post" action="./IECMH.aspx" id="aspnetForm">{VIEWSTATE}
<div id="ms-designer-ribbon"><div id="s4-ribbonrow"><div id="globalNavBox"><div id="ribbonBox"><span>Browse</span><span>Page</span>
<a href="/_layouts/15/Authenticate.aspx">Sign In</a></div></div></div></div>
<div id="s4-workspace"><div id="s4-bodyContainer"><div id="s4-titlerow"><div id="titleAreaBox">
<div id="siteIcon"><a href="/"><img alt="Michigan Department of Health and Human Services" src="/logo.png"></a></div>
<div class="ms-siteheader">Michigan Department of Health and Human Services</div>
<div id="DeltaTopNavigation" class="ms-displayInline ms-core-navigation"><div class="ms-core-listMenu-horizontalBox"><ul>{quick}</ul></div></div>
<div id="DeltaPlaceHolderSearchArea"><input title="Search..." class="ms-textSmall" type="text"></div></div></div>
<div id="contentRow"><div id="sideNavBox" class="ms-dialogHidden ms-forceWrap ms-noList"><div id="DeltaPlaceHolderLeftNavBar">
<ul><li><a href="/a">Children's Mental Health</a></li><li><a href="/b">Early Childhood Services</a></li><li><a href="/c">Providers</a></li></ul></div></div>
<div id="contentBox"><div id="notificationArea" class="ms-notif-box"></div><div id="DeltaPageStatusBar"></div>
<div id="DeltaPlaceHolderMain"><a id="mainContent" name="mainContent" tabindex="-1"></a>
<div class="ms-webpart-zone"><h1 class="ms-pageTitle">{title}</h1>
<div class="ms-rtestate-field"><div class="pageTools"><a href="#" onclick="window.print()">Print</a> <a href="mailto:">Email this page</a></div>
{_jump_list(content, "Contents")}{_anchored(content).replace("Return to Top", "Back to top")}</div>
<div class="ms-rtestate-field"><p>Last modified: 11/6/2015</p></div></div></div></div></div>
<div id="footer"><p>Copyright 2024 State of Michigan</p><ul><li><a>Policies</a></li><li><a>FOIA</a></li></ul></div>
</div></div></form></body></html>"""


def layout_table_page(title: str, content: str) -> str:
    """An older state page laid out in a table: banner row, a menu cell, the content cell, a
    footer row."""
    menu = "".join(f'<a href="/{i}.html">{m}</a><br>' for i, m in enumerate(MENU))
    return f"""<html><head><title>{title}</title><meta name="DC.publisher" content="Vermont Agency of Human Services">
<meta name="DC.date" content="2008-01-15"></head>
<body bgcolor="#ffffff"><a name="top"></a><table width="100%" border="0" cellpadding="0" cellspacing="0">
<tr><td colspan="2" bgcolor="#003366"><img src="/banner.gif" alt="Vermont Agency of Human Services"><br>
<a href="/">Home</a> | <a href="/contact.html">Contact</a> | <a href="/search.html">Search</a></td></tr>
<tr><td width="180" valign="top" bgcolor="#eeeeee">{menu}</td>
<td valign="top"><h1>{title}</h1><p><a href="javascript:window.print()">Print this page</a></p>
{_anchored(content).replace("Return to Top", "Back to Top")}</td></tr>
<tr><td colspan="2"><p>Last Reviewed: November 6, 2015</p><p>Vermont Agency of Human Services | 280 State Drive, Waterbury, VT</p></td></tr>
</table></body></html>"""


SITES = {"state agency (Drupal)": agency_page, "nonprofit (WordPress)": nonprofit_page,
         "TA centre (topic page)": ta_center_page, "state agency (ASP.NET WebForms form)": webforms_page,
         "state agency (SharePoint form)": sharepoint_page, "state agency (layout table)": layout_table_page}
FORM_WRAPPED = ("state agency (ASP.NET WebForms form)", "state agency (SharePoint form)")
# Link text of page tools and in-page navigation: never content.
NAV_PHRASES = re.compile(r"\b(?:return to top|back to top|skip to (?:main )?content|print this page|email this page|"
                         r"share this page|on this page)\b", re.I)


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


def read_after(page: str):
    """The reader's text and passages; ("", []) when it reads the page as no text."""
    from kb.errors import ExtractionError

    try:
        extracted = extract_html(page.encode("utf-8"))
    except ExtractionError:
        return "", []
    if not extracted.pages[0].text.strip():
        return "", []
    return extracted.pages[0].text, split_pages(extracted.pages)


def toc_leaked(passages, content: str) -> bool:
    """The in-page table of contents in a passage: the section headings run together."""
    heads = [html.unescape(h) for h in _headings(content)]
    return len(heads) >= 2 and any(" ".join(heads[:2]) in p.text for p in passages)


def main() -> None:
    seeds = sorted(p for p in CORPUS.iterdir() if p.suffix in (".txt", ".md"))
    rows, totals = [], {k: [0, 0, 0.0] for k in ("before", "trafilatura", "after")}
    leaks: dict[str, int] = {}
    by_site = {site: [0, 0, 0, 0] for site in SITES}  # pages, empty, nav phrases, toc in a passage
    for seed in seeds:
        lines = seed_lines(seed.read_text(encoding="utf-8"))
        truth = [text for _, text in lines]
        title = truth[0]
        for site, make in SITES.items():
            content = content_html(lines[1:])
            page = make(html.escape(title), content)
            after, passages = read_after(page)
            readings = {"before": html_to_pages(page).pages[0].text, "trafilatura": trafilatura_text(page),
                        "after": after}
            counts = by_site[site]
            counts[0] += 1
            counts[1] += not after
            found = [m.group(0) for p in passages for m in NAV_PHRASES.finditer(p.text)]
            counts[2] += len(found)
            counts[3] += toc_leaked(passages, content)
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
    print("\n## The reader's passages, per site style\n")
    print(table(["site style", "pages", "read as empty", "navigation phrases in passages", "pages with the in-page contents in a passage"],
                [[site, *counts] for site, counts in by_site.items()]))
    print("\nBoilerplate still indexed after (block: pages):\n")
    print(table(["block", "pages"], [[b[:100], n] for b, n in sorted(leaks.items(), key=lambda kv: -kv[1])]))


if __name__ == "__main__":
    main()
