#!/usr/bin/python3
"""mkman.py — make portico's manual pages from its Markdown documentation.

    mkman.py portico.8      -o build/man/portico.8      [--version V] [--date YYYY-MM-DD]
    mkman.py portico.conf.5 -o build/man/portico.conf.5 [--version V] [--date YYYY-MM-DD]

The pages are not written by hand: each is assembled from sections of the Markdown files that
are also the project's documentation (README.md, docs/configuration.md, packaging/README.md),
so the two cannot drift. PAGES below says which headings of which file go where. A heading
that is missing from its file is left out (with a note on stderr), so renaming a section in
the docs never breaks the build; it only drops the section from the page until PAGES follows.

The Markdown understood is the subset the docs use: ATX headings, paragraphs, "-"/"*"/"1."
lists (nested by indentation), fenced code blocks, pipe tables, `code`, **bold**, *italic*,
[links](url), HTML entities and comments. Tables become tagged paragraphs (.TP), the usual
form of a man page's key list: the first column is the tag, a middle column is shown after it
as "(header: value)", the last column is the text. Output is plain man(7) that groff -ww and
mandoc -Tlint accept; characters outside ASCII are written as \\[uXXXX].

Only the Python standard library; no network.
"""

import argparse
import html
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each page: header fields, NAME line, then its sections in order. A section is
#   (TITLE, FILE, HEADING)   the Markdown section HEADING of FILE (with its subsections),
#                            under .SH TITLE; HEADING None = the text between the file's
#                            "# title" and its first "##" heading
#   (TITLE, FILE, "*")       every "##" section of FILE, each under its own .SH
# Optional sections (missing heading) are skipped with a note.
PAGES = {
    "portico.8": {
        "name": "portico",
        "section": "8",
        "manual": "System Administration",
        "purpose": "reverse proxy for the external web services of Lync and Skype for Business Server",
        "synopsis_from": ("README.md", "Command line"),
        "sections": [
            ("DESCRIPTION", "README.md", None),
            ("COMMANDS", "README.md", "Command line"),
            ("SIGNALS", "README.md", "Signals"),
            ("EXAMPLE", "README.md", "A minimal configuration"),
            ("RUNNING AS A SERVICE", "packaging/README.md", "Running as a service"),
            ("FILES", "packaging/README.md", "Files"),
        ],
        "see_also": [("portico.conf", "5"), ("systemd.service", "5"), ("systemctl", "1"),
                     ("journalctl", "1"), ("logrotate", "8")],
        "docs_note": True,
    },
    "portico.conf.5": {
        "name": "portico.conf",
        "section": "5",
        "manual": "File Formats",
        "purpose": "configuration file of portico, the Lync / Skype for Business reverse proxy",
        "sections": [
            ("DESCRIPTION", "docs/configuration.md", None),
            ("*", "docs/configuration.md", "*"),
            ("FILES", "packaging/README.md", "Files"),
        ],
        # Design rationale for developers, not for the manual.
        "omit": ["Why not libinih"],
        "see_also": [("portico", "8")],
        "docs_note": True,
    },
}

DOCDIR = "/usr/share/doc/portico"

# ---------------------------------------------------------------------------------------------
# Markdown blocks


class Block:
    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)


FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def split_row(line):
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells, cur, i, in_code = [], "", 0, False
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == "|":
            cur += "|"
            i += 2
            continue
        if c == "`":
            in_code = not in_code
        if c == "|" and not in_code:
            cells.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    cells.append(cur.strip())
    return cells


def parse(lines):
    """Markdown lines -> list of Blocks."""
    blocks = []
    i, n = 0, len(lines)

    def starts_block(s):
        return (HEADING.match(s) or FENCE.match(s) or s.lstrip().startswith("|")
                or s.lstrip().startswith("<!--"))

    while i < n:
        line = lines[i].rstrip("\n")
        if not line.strip():
            i += 1
            continue
        if line.lstrip().startswith("<!--"):
            while i < n and "-->" not in lines[i]:
                i += 1
            i += 1
            continue
        m = FENCE.match(line)
        if m:
            fence, lang, code = m.group(2), m.group(3), []
            i += 1
            while i < n and not lines[i].strip().startswith(fence[:3]):
                code.append(lines[i].rstrip("\n"))
                i += 1
            i += 1
            blocks.append(Block("code", lang=lang, lines=code))
            continue
        m = HEADING.match(line)
        if m:
            blocks.append(Block("heading", level=len(m.group(1)), text=m.group(2)))
            i += 1
            continue
        if line.lstrip().startswith("|"):
            rows = []
            while i < n and lines[i].lstrip().startswith("|"):
                rows.append(lines[i].rstrip("\n"))
                i += 1
            if len(rows) >= 2 and TABLE_SEP.match(rows[1]):
                blocks.append(Block("table", header=split_row(rows[0]),
                                    rows=[split_row(r) for r in rows[2:]]))
            else:
                blocks.append(Block("para", text=" ".join(r.strip() for r in rows)))
            continue
        m = ITEM.match(line)
        if m:
            items = []  # [depth indent, text paragraphs]
            while i < n:
                line = lines[i].rstrip("\n")
                m = ITEM.match(line)
                if m:
                    items.append([len(m.group(1)), [m.group(3)]])
                    i += 1
                    continue
                if not line.strip():
                    # A blank line: the list goes on only if an item or an indented
                    # continuation follows.
                    j = i + 1
                    while j < n and not lines[j].strip():
                        j += 1
                    if j < n and (ITEM.match(lines[j]) or lines[j].startswith("  ")) \
                            and not FENCE.match(lines[j]):
                        items[-1][1].append("")
                        i = j
                        continue
                    break
                if starts_block(line):
                    break
                # continuation (indented or lazy)
                if items[-1][1][-1] == "":
                    items[-1][1][-1] = line.strip()
                else:
                    items[-1][1][-1] += " " + line.strip()
                i += 1
            # indentation -> depth 0, 1, ...
            indents = sorted(set(it[0] for it in items))
            blocks.append(Block("list", items=[(indents.index(ind), paras)
                                               for ind, paras in items]))
            continue
        para = [line.strip()]
        i += 1
        while i < n:
            line = lines[i].rstrip("\n")
            if not line.strip() or starts_block(line) or ITEM.match(line):
                break
            para.append(line.strip())
            i += 1
        blocks.append(Block("para", text=" ".join(para)))
    return blocks


def read_blocks(relpath):
    with open(os.path.join(ROOT, relpath), encoding="utf-8") as f:
        return parse(f.read().splitlines())


def section(blocks, heading):
    """The blocks of the '##'-or-deeper section HEADING (without the heading), or None.
    heading None: the blocks between the '#' title and the first lower heading."""
    if heading is None:
        out, started = [], False
        for b in blocks:
            if b.kind == "heading":
                if b.level == 1 and not started:
                    started = True
                    continue
                break
            out.append(b)
        return out
    for k, b in enumerate(blocks):
        if b.kind == "heading" and plain(b.text).lower() == heading.lower():
            out = []
            for c in blocks[k + 1:]:
                if c.kind == "heading" and c.level <= b.level:
                    break
                out.append(c)
            return out
    return None


def top_sections(blocks):
    """[(heading text, blocks)] for each '##' section."""
    out = []
    for k, b in enumerate(blocks):
        if b.kind == "heading" and b.level == 2:
            out.append((b.text, section(blocks[k:], plain(b.text))))
    return out


def plain(text):
    """Markdown inline -> plain text (for matching headings)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return html.unescape(re.sub(r"[`*_]", "", text)).strip()


# ---------------------------------------------------------------------------------------------
# roff


def esc_char(c, code=False):
    if c == "\\":
        return "\\e"
    if c == "-":
        return "\\-" if code else "-"
    if code and c == "'":
        return "\\(aq"
    if code and c == "`":
        return "\\(ga"
    if code and c == "~":
        return "\\(ti"
    if code and c == "^":
        return "\\(ha"
    if ord(c) > 126 or (ord(c) < 32 and c != "\t"):
        if ord(c) == 0xA0:
            return "\\~"
        return "\\[u%04X]" % ord(c)
    return c


def esc(text, code=False):
    out = "".join(esc_char(c, code) for c in text)
    if code:
        # Long words (cipher lists, paths) may break after a "-" or "/" on narrow terminals
        # instead of overflowing the line.
        out = re.sub(r"\S{25,}",
                     lambda m: re.sub(r"(\\-|/)(?=[^\s\\])", r"\1\\:", m.group(0)), out)
        # ... and are never hyphenated: "\%" before each word.
        out = re.sub(r"(?:(?<=\s)|^)(?=\S)", r"\\%", out)
    return out


def url_breakable(url):
    return "\\:".join(esc(part, True) for part in re.split(r"(?<=/)", url) if part)


INLINE = re.compile(
    r"(?P<code>(`+)(?P<codetext>.+?)\2)"
    r"|(?P<img>!\[(?P<alt>[^\]]*)\]\([^)]*\))"
    r"|(?P<link>\[(?P<ltext>(?:[^\]`]|`[^`]*`)+)\]\((?P<url>[^)\s]+)(?:\s+\"[^\"]*\")?\))"
    r"|(?P<auto><(?P<aurl>https?://[^>\s]+)>)"
    r"|(?P<strong>\*\*(?P<stext>.+?)\*\*|__(?P<stext2>[^_].*?)__)"
    r"|(?P<em>(?<![\w*])\*(?P<etext>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<etext2>[^_\s](?:[^_]*[^_\s])?)_(?![\w_]))"
    r"|(?P<entity>&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);)"
    r"|(?P<bsl>\\(?P<bslc>[\\`*_{}\[\]()#+\-.!|<>]))")


def inline(text, font="R", upper=False):
    """Markdown inline text -> roff; FONT is the font in force around it (R, B or I);
    UPPER upper-cases the plain text (headings), never code."""
    out, pos = [], 0

    def plain_text(s):
        s = s.upper() if upper else s
        return esc(s)

    def span(inner_font, roff):
        return "\\f" + inner_font + roff + "\\f" + font

    for m in INLINE.finditer(text):
        out.append(plain_text(text[pos:m.start()]))
        pos = m.end()
        if m.group("code"):
            code = m.group("codetext")
            if code.startswith(" ") and code.endswith(" ") and code.strip():
                code = code[1:-1]
            out.append(span("B", esc(code, True)) if font != "B" else esc(code, True))
        elif m.group("img"):
            out.append(plain_text(m.group("alt")))
        elif m.group("link"):
            ltext, url = m.group("ltext"), m.group("url")
            out.append(inline(ltext, font, upper))
            if re.match(r"https?://", url) and plain(ltext) != url:
                out.append(" <" + url_breakable(url) + ">")
        elif m.group("auto"):
            out.append("<" + url_breakable(m.group("aurl")) + ">")
        elif m.group("strong"):
            inner = m.group("stext") or m.group("stext2")
            out.append(span("B", inline(inner, "B", upper)))
        elif m.group("em"):
            inner = m.group("etext") or m.group("etext2")
            out.append(span("I", inline(inner, "I", upper)))
        elif m.group("entity"):
            out.append(plain_text(html.unescape(m.group("entity"))))
        elif m.group("bsl"):
            out.append(esc(m.group("bslc")))
    out.append(plain_text(text[pos:]))
    return "".join(out)


def textline(roff, width=78):
    """Roff text lines for a paragraph: a new line at each sentence's start, long sentences
    wrapped at blanks (never after a word that ends with a period, which roff would take for
    a sentence's end), no line starting with a control character or a blank."""
    lines, cur = [], ""
    for word in roff.split():
        if not cur:
            cur = word
            continue
        sentence_end = re.search(r"[.!?][)\"'\]]*$", cur) and re.match(r"(\\f.)?[A-Z`\\]", word)
        if sentence_end or (len(cur) + 1 + len(word) > width
                            and not re.search(r"[.!?][)\"'\]]*$", cur)):
            lines.append(cur)
            cur = word
        else:
            cur += " " + word
    if cur:
        lines.append(cur)
    return "\n".join("\\&" + ln if ln.startswith((".", "'")) else ln for ln in lines)


def macro_arg(roff):
    return '"' + roff.replace('"', '\\(dq') + '"'


COMMAND_LINE = re.compile(r"^(\S.*?)(?:\s{2,}(\S.*))?$")


def command_block(lines, name):
    """A code block of command lines ("portico -t -c FILE    what it does", continuation lines
    indented), as the README's "Command line" has; None when LINES are something else."""
    entries = []
    for line in lines:
        if not line.strip():
            continue
        if line.startswith(name + " ") or line == name:
            m = COMMAND_LINE.match(line)
            entries.append([m.group(1), [m.group(2)] if m.group(2) else []])
        elif line.startswith("          ") and entries:
            entries[-1][1].append(line.strip())
        else:
            return None
    return entries or None


def synopsis_roff(cmd):
    """'portico -t -c FILE [--format a|b]' -> bold literals, italic placeholders."""
    out = []
    for tok in re.split(r"(\s+|[\[\]|])", cmd):
        if not tok:
            continue
        if tok.isspace():
            out.append(" ")
        elif tok in "[]|":
            out.append(tok)
        elif re.fullmatch(r"[A-Z][A-Z0-9_]*", tok):
            out.append("\\fI" + esc(tok) + "\\fR")
        else:
            out.append("\\fB" + esc(tok, True) + "\\fR")
    return "".join(out)


class Writer:
    def __init__(self, page):
        self.page = page
        self.out = []
        self.after_heading = True

    def emit(self, *lines):
        self.out.extend(lines)

    def para_start(self):
        if not self.after_heading:
            self.emit(".PP")
        self.after_heading = False

    def sh(self, title):
        self.emit(".SH " + macro_arg(title))
        self.after_heading = True

    def ss(self, roff):
        self.emit(".SS " + macro_arg(roff))
        self.after_heading = True

    def blocks(self, blocks, base_level=2):
        for b in blocks:
            getattr(self, "b_" + b.kind)(b, base_level)

    def b_heading(self, b, base_level):
        if b.level <= base_level:
            self.sh(inline(b.text, upper=True))
        else:
            self.ss(inline(b.text))

    def b_para(self, b, base_level):
        self.para_start()
        self.emit(textline(inline(b.text)))

    def b_list(self, b, base_level):
        depth = 0
        for d, paras in b.items:
            while depth < d:
                self.emit(".RS 2")
                depth += 1
            while depth > d:
                self.emit(".RE")
                depth -= 1
            first = True
            for p in paras:
                if not p:
                    continue
                self.emit(".IP \\(bu 2" if first else '.IP "" 2')
                self.emit(textline(inline(p)))
                first = False
        while depth > 0:
            self.emit(".RE")
            depth -= 1
        self.after_heading = False

    def b_table(self, b, base_level):
        head = b.header
        for row in b.rows:
            row = row + [""] * (len(head) - len(row))
            tag = inline(row[0], "B") if row[0] else ""
            tag = "\\fB" + tag + "\\fR" if tag else "\\&"
            extras = []
            for h, cell in zip(head[1:-1], row[1:-1]):
                if cell.startswith("(") and cell.endswith(")") and cell.count("(") == 1:
                    cell = cell[1:-1]
                if cell:
                    extras.append(esc(plain(h).lower()) + ": " + inline(cell))
            if extras:
                tag += " (" + "; ".join(extras) + ")"
            self.emit(".TP", textline(tag))
            self.emit(textline(inline(row[-1])) if len(head) > 1 and row[-1] else "\\&")
        self.after_heading = False

    def b_code(self, b, base_level):
        entries = command_block(b.lines, self.page["name"])
        if entries:
            for cmd, desc in entries:
                self.emit(".TP", synopsis_roff(cmd))
                self.emit(textline(inline(" ".join(desc))) if desc else "\\&")
            self.after_heading = False
            return
        self.para_start()
        self.emit(".RS 4", ".nf")
        for line in b.lines:
            self.emit(("\\&" if line[:1] in ".'" else "") + esc(line.expandtabs(8), True))
        self.emit(".fi", ".RE")
        self.after_heading = False


def source_date(files):
    """SOURCE_DATE_EPOCH, else the newest commit date of FILES, else their newest mtime."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return time.strftime("%Y-%m-%d", time.gmtime(int(os.environ["SOURCE_DATE_EPOCH"])))
    paths = [os.path.join(ROOT, f) for f in files if os.path.exists(os.path.join(ROOT, f))]
    try:
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--"] + paths,
                               capture_output=True, text=True, check=True).stdout.strip()
        if not dirty:
            out = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%cs", "--"] + paths,
                                 capture_output=True, text=True, check=True).stdout.strip()
            if out:
                return out
    except (OSError, subprocess.CalledProcessError):
        pass
    newest = max((os.path.getmtime(p) for p in paths), default=time.time())
    return time.strftime("%Y-%m-%d", time.gmtime(newest))


def build(page_name, version, date):
    page = PAGES[page_name]
    files = sorted({s[1] for s in page["sections"]}
                   | ({page["synopsis_from"][0]} if "synopsis_from" in page else set()))
    cache = {}

    def blocks_of(f):
        if f not in cache:
            cache[f] = read_blocks(f) if os.path.exists(os.path.join(ROOT, f)) else None
        return cache[f]

    w = Writer(page)
    date = date or source_date(files)
    w.emit('.\\" Generated by packaging/mkman.py from ' + ", ".join(files) + ": do not edit.",
           ".TH %s %s %s %s %s" % (macro_arg(esc(page["name"].upper())), page["section"],
                                   macro_arg(date), macro_arg(esc("portico " + version)),
                                   macro_arg(esc(page["manual"]))))
    w.sh("NAME")
    w.emit(textline(esc(page["name"]) + " \\- " + esc(page["purpose"])))

    if "synopsis_from" in page:
        f, heading = page["synopsis_from"]
        cmds = []
        for b in section(blocks_of(f) or [], heading) or []:
            if b.kind == "code":
                cmds += [c for c, _ in command_block(b.lines, page["name"]) or []]
        if cmds:
            w.sh("SYNOPSIS")
            for k, cmd in enumerate(cmds):
                if k:
                    w.emit(".br")
                w.emit(synopsis_roff(cmd))
        else:
            print("mkman: %s: no command lines under '%s'" % (f, heading), file=sys.stderr)

    omit = {h.lower() for h in page.get("omit", [])}

    def drop_omitted(blocks):
        out, skip_level = [], None
        for b in blocks:
            if b.kind == "heading":
                if skip_level is not None and b.level <= skip_level:
                    skip_level = None
                if skip_level is None and plain(b.text).lower() in omit:
                    skip_level = b.level
                    continue
            if skip_level is None:
                out.append(b)
        return out

    for title, f, heading in page["sections"]:
        blocks = blocks_of(f)
        if blocks is None:
            print("mkman: %s: missing, section %s left out" % (f, title), file=sys.stderr)
            continue
        if heading == "*":
            for htext, body in top_sections(blocks):
                if plain(htext).lower() in omit:
                    continue
                w.sh(inline(htext, upper=True))
                w.blocks(drop_omitted(body), base_level=2)
            continue
        body = section(blocks, heading)
        if not body:
            print("mkman: %s: no section '%s', %s left out" % (f, heading, title),
                  file=sys.stderr)
            continue
        w.sh(title)
        # Its subsections (### and deeper) become .SS.
        w.blocks(drop_omitted(body), base_level=2)

    w.sh("SEE ALSO")
    w.emit(",\n".join("\\fB%s\\fR(%s)" % (esc(n, True), s) for n, s in page["see_also"]))
    if page.get("docs_note"):
        docs = ["README.md"] + sorted("docs/" + f for f in os.listdir(os.path.join(ROOT, "docs"))
                                      if f.endswith(".md"))
        w.emit(".PP", textline("The documentation this page is taken from is installed in "
                               "\\fI" + esc(DOCDIR) + "\\fR: " + ", ".join(esc(d) for d in docs)
                               + ", with the commented example configuration "
                               "\\fIexamples/portico.conf\\fR."))
    return "\n".join(w.out) + "\n"


def main():
    ap = argparse.ArgumentParser(description="make portico's man pages from its docs")
    ap.add_argument("page", choices=sorted(PAGES))
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--version", default="")
    ap.add_argument("--date", default="")
    a = ap.parse_args()
    text = build(a.page, a.version, a.date)
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    tmp = a.output + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
