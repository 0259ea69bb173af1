#!/usr/bin/env python3
"""The extension's error messages against the mechanical rules of PostgreSQL's message style.

Collects every message the extension can raise:
  - C++ (src/extension/*.cpp, *.hpp): errmsg / errdetail / errhint (and their _internal, _plural
    and _log forms) inside ereport, elog, the SqlError(sqlstate, message, detail, hint) exceptions
    that the boundary re-raises, and the fixed messages the boundary writes for other exceptions;
  - SQL (src/extension/*.sql): RAISE with its format string and the USING MESSAGE / DETAIL / HINT
    options.
A message built from pieces (string concatenation, a std::string variable defined earlier in the
same file) is checked as a template with %s for the pieces that are not literals; a message that
is nothing but a value passed through (errmsg_internal("%s", ...), e.what()) is skipped.

In the SQL scripts only the last definition of each function (in upgrade order) counts: a
released script is never edited, so a message is fixed by redefining its function in the next
upgrade script, after which the old text is no longer installed.

Rules checked:
  primary message (errmsg, elog, SqlError's message, RAISE's format):
    - does not start with a capital letter (a leading quoted name or %s placeholder is fine);
    - does not end with a period;
    - has no "name:" prefix naming a function or the extension ("delta_sync.purge: ...",
      "delta_since: ...", "track(): ...");
  detail and hint: full sentences, so they start with a capital letter and end with a period.

Usage: tests/check_messages.py [--list] [FILE...]   (default: the extension's sources)
Prints each violation as file:line; exits 1 when there is any, 0 otherwise. --list also prints
every message found, with its kind.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PRIMARY, DETAIL, HINT = "message", "detail", "hint"

# C++ calls whose string argument is a message, and which argument it is.
CXX_CALLS = {
    "errmsg": [(0, PRIMARY)],
    "errmsg_internal": [(0, PRIMARY)],
    "errmsg_plural": [(0, PRIMARY), (1, PRIMARY)],
    "errdetail": [(0, DETAIL)],
    "errdetail_internal": [(0, DETAIL)],
    "errdetail_log": [(0, DETAIL)],
    "errdetail_plural": [(0, DETAIL), (1, DETAIL)],
    "errhint": [(0, HINT)],
    "elog": [(1, PRIMARY)],
    "SqlError": [(1, PRIMARY), (2, DETAIL), (3, HINT)],
    # The boundary's own messages for exceptions that carry no SQLSTATE (boundary.cpp); the kind
    # is the buffer they fill: message, detail or hint.
    "copy_text": [],
    "snprintf": [],
}
# copy_text / snprintf count only when they fill a Failure's message, detail or hint buffer.
BUFFER_CALLS = {"copy_text", "snprintf"}


class Message:
    def __init__(self, path, line, kind, text, function=None):
        self.path, self.line, self.kind, self.text = path, line, kind, text
        self.function = function  # SQL: the function whose body holds it

    def where(self):
        path = self.path
        if path.startswith(ROOT + os.sep):
            path = os.path.relpath(path, ROOT)
        return "%s:%d" % (path, self.line)


# ---------------------------------------------------------------------------------------------
# C++
# ---------------------------------------------------------------------------------------------

CXX_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0", "r": "\r"}


def strip_cxx_comments(src):
    """Replaces comments by spaces (keeping newlines), leaving string literals intact."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_top_level(expr, sep):
    """Splits at `sep` characters outside parentheses, brackets and literals."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'":
            j = i + 1
            while j < len(expr) and expr[j] != c:
                j += 2 if expr[j] == "\\" else 1
            cur.append(expr[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def statement_end(src, i):
    """The index of the ';' that ends the statement running from i (literals skipped)."""
    while i < len(src) and src[i] != ";":
        if src[i] in "\"'":
            q, i = src[i], i + 1
            while i < len(src) and src[i] != q:
                i += 2 if src[i] == "\\" else 1
        i += 1
    return i


def call_arguments(src, open_paren):
    """The argument texts of the call whose '(' is at open_paren, and the index after ')'."""
    depth, i = 0, open_paren
    while i < len(src):
        c = src[i]
        if c in "\"'":
            j = i + 1
            while j < len(src) and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                inner = src[open_paren + 1:i]
                return [a.strip() for a in split_top_level(inner, ",")], i + 1
        i += 1
    return [], len(src)


LITERALS = re.compile(r'^(?:\s*"((?:[^"\\]|\\.)*)")+\s*$', re.S)


def literal_value(expr):
    """The value of one or more adjacent C++ string literals, or None."""
    if not LITERALS.match(expr):
        return None
    pieces = re.findall(r'"((?:[^"\\]|\\.)*)"', expr)
    return "".join(re.sub(r"\\(.)", lambda m: CXX_ESCAPES.get(m.group(1), m.group(1)), p)
                   for p in pieces)


def unwrap(expr):
    expr = expr.strip()
    changed = True
    while changed:
        changed = False
        for suffix in (".c_str()", ".data()"):
            if expr.endswith(suffix):
                expr, changed = expr[: -len(suffix)].strip(), True
        m = re.match(r"^std::string\s*\(", expr)
        if m:
            args, end = call_arguments(expr, m.end() - 1)
            if end == len(expr) and len(args) == 1:
                expr, changed = args[0], True
        if expr.startswith("(") and expr.endswith(")"):
            args, end = call_arguments(expr, 0)
            if end == len(expr) and len(args) == 1:
                expr, changed = args[0], True
    return expr


def template_of(expr, src, before, depth=0):
    """The message an expression builds: literals as they are, other pieces as %s.
    None when nothing of it is literal (a value passed through)."""
    expr = unwrap(expr)
    if expr in ("nullptr", "NULL", "0", ""):
        return None
    value = literal_value(expr)
    if value is not None:
        return value
    pieces = split_top_level(expr, "+")
    if len(pieces) > 1:
        parts = [template_of(p, src, before, depth + 1) for p in pieces]
        if all(p is None for p in parts):
            return None
        return "".join("%s" if p is None else p for p in parts)
    if depth < 4 and re.match(r"^[A-Za-z_]\w*$", expr):
        # A variable defined earlier in the file: the last definition before the use.
        definition = None
        pattern = re.compile(
            r"(?:std::string\s+|const\s+char\s*\*\s*(?:const\s+)?|auto\s+)%s\s*=\s*" % expr)
        for m in pattern.finditer(src, 0, before):
            definition = src[m.end():statement_end(src, m.end())]
        if definition is not None:
            return template_of(definition, src, before, depth + 1)
    return None


def cxx_messages(path):
    src = strip_cxx_comments(open(path, encoding="utf-8").read())
    found = []
    names = "|".join(sorted(CXX_CALLS, key=len, reverse=True))
    for m in re.finditer(r"\b(%s)\s*\(" % names, src):
        name = m.group(1)
        before = src[: m.start()]
        if name == "SqlError" and re.search(r"(::\s*|class\s+)$", before):
            continue  # the constructor's definition or the class itself
        args, _ = call_arguments(src, m.end() - 1)
        wanted = CXX_CALLS[name]
        if name in BUFFER_CALLS:
            kind = {"message": PRIMARY, "detail": DETAIL, "hint": HINT}.get(args[0] if args else "")
            if kind is None:
                continue
            wanted = [(2, kind)]
        for index, kind in wanted:
            if index >= len(args):
                continue
            text = template_of(args[index], src, m.start())
            if text is None or text.strip() == "%s":
                continue
            # The line where the argument starts (args are stripped copies of the source).
            arg_at = src.find(args[index], m.end() - 1)
            at = arg_at if arg_at >= 0 else m.start()
            found.append(Message(path, src.count("\n", 0, at) + 1, kind, text))
    return found


# ---------------------------------------------------------------------------------------------
# SQL (PL/pgSQL RAISE)
# ---------------------------------------------------------------------------------------------

def strip_sql_comments(src):
    out, i, n = [], 0, len(src)
    while i < n:
        if src[i] == "'":
            j = i + 1
            while j < n:
                if src[j] == "'" and j + 1 < n and src[j + 1] == "'":
                    j += 2
                elif src[j] == "'":
                    break
                else:
                    j += 1
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("--", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        else:
            out.append(src[i])
            i += 1
    return "".join(out)


SQL_STRING = r"'((?:[^']|'')*)'"


FUNCTION_START = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([\w.\"]+)\s*\(", re.I | re.M)
STATEMENT_START = re.compile(r"^(?:CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE|SELECT|DO)\b", re.I | re.M)


def sql_functions(src):
    """(start, end, name) of each CREATE FUNCTION: from its CREATE to the next top-level
    statement after its body (approximately: the next line that starts a statement after the
    function's closing dollar quote)."""
    spans = []
    for m in FUNCTION_START.finditer(src):
        # A body in dollar quotes opens before the first ';' of the statement; a function without
        # one (LANGUAGE C ... AS 'MODULE_PATHNAME', ...) ends at that ';'.
        semi = src.find(";", m.end())
        semi = len(src) if semi < 0 else semi
        body = re.search(r"\$(\w*)\$", src[m.end():semi])
        end = semi
        if body:
            tag = body.group(0)
            open_at = m.end() + body.end()
            close_at = src.find(tag, open_at)
            if close_at >= 0:
                nxt = STATEMENT_START.search(src, close_at + len(tag))
                end = nxt.start() if nxt else len(src)
        spans.append((m.start(), end, m.group(1).replace('"', "").lower()))
    return spans


def sql_messages(path):
    src = strip_sql_comments(open(path, encoding="utf-8").read())
    found = []
    functions = sql_functions(src)

    def owner(at):
        for start, end, name in functions:
            if start <= at < end:
                return name
        return None
    # Single-quoted literals (a COMMENT's text may say "raise the horizon"): no RAISE in them.
    literals = [(q.start(), q.end()) for q in re.finditer(SQL_STRING, src)]

    def in_literal(at):
        return any(start < at < end for start, end in literals)
    for m in re.finditer(r"\bRAISE\s+(?:(EXCEPTION|WARNING|NOTICE|INFO|LOG|DEBUG)\s+)?", src, re.I):
        if in_literal(m.start()):
            continue
        # The statement runs to the first ';' outside a literal.
        i, n = m.end(), len(src)
        while i < n and src[i] != ";":
            if src[i] == "'":
                i += 1
                while i < n and not (src[i] == "'" and src[i + 1:i + 2] != "'"):
                    i += 2 if src[i] == "'" else 1
            i += 1
        stmt_start, stmt = m.end(), src[m.end():i]
        fmt = re.match(r"\s*" + SQL_STRING, stmt)
        if fmt:
            at = stmt_start + fmt.start(1)
            found.append(Message(path, src.count("\n", 0, at) + 1, PRIMARY,
                                 fmt.group(1).replace("''", "'"), owner(at)))
        using = re.search(r"\bUSING\b", stmt, re.I)
        if not using:
            continue
        for o in re.finditer(r"\b(MESSAGE|DETAIL|HINT)\s*=\s*" + SQL_STRING, stmt[using.end():], re.I):
            kind = {"MESSAGE": PRIMARY, "DETAIL": DETAIL, "HINT": HINT}[o.group(1).upper()]
            at = stmt_start + using.end() + o.start(2)
            found.append(Message(path, src.count("\n", 0, at) + 1, kind,
                                 o.group(2).replace("''", "'"), owner(at)))
    return found


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------

PREFIX = re.compile(r"^\s*[A-Za-z_][\w.]*(\(\))?\s*:\s")


def violations(msg):
    text = msg.text.strip()
    if not text:
        return ["empty"]
    found = []
    first = text[0]
    if msg.kind == PRIMARY:
        if first.isupper():
            found.append("primary message starts with a capital letter")
        if text.endswith(".") and not text.endswith("..."):
            found.append("primary message ends with a period")
        if PREFIX.match(text):
            found.append("primary message starts with a name prefix (%r)" % PREFIX.match(text).group(0).strip())
    else:
        if first.isalpha() and not first.isupper():
            found.append("%s does not start with a capital letter" % msg.kind)
        if not text.endswith("."):
            found.append("%s does not end with a period" % msg.kind)
    return found


def default_files():
    ext = os.path.join(ROOT, "src", "extension")
    sql = glob.glob(os.path.join(ext, "*.sql"))
    # The full script of the current version is built from 1.0 and the upgrade scripts (see the
    # Makefile): its messages are theirs, so it is left out.
    sql = [f for f in sql if "--" in os.path.basename(f)[len("delta_sync--"):]
           or os.path.basename(f) == "delta_sync--1.0.sql"]
    return sorted(glob.glob(os.path.join(ext, "*.cpp")) + glob.glob(os.path.join(ext, "*.hpp")) + sql)


def upgrade_order(path):
    """Install scripts in the order an install applies them: delta_sync--1.0.sql, then each
    upgrade script by the version it upgrades to; other files by name after them."""
    name = os.path.basename(path)
    m = re.match(r"^.*--(\d+(?:\.\d+)*)\.sql$", name)
    if m:
        return (0, [int(x) for x in m.group(1).split(".")], name)
    return (1, [], name)


def main(argv):
    listing = "--list" in argv
    files = [os.path.abspath(a) for a in argv if a != "--list"] or default_files()
    messages = []
    for path in files:
        if not path.endswith(".sql"):
            messages += cxx_messages(path)
    # Install scripts are never edited once released: a message is changed by redefining its
    # function in a later upgrade script. Only the last definition of each function (in upgrade
    # order) is installed, so only its messages count.
    sql = [m for path in sorted((f for f in files if f.endswith(".sql")), key=upgrade_order)
           for m in sql_messages(path)]
    last = {}
    for m in sql:
        if m.function:
            last[m.function] = m.path
    messages += [m for m in sql if not m.function or last[m.function] == m.path]
    bad = 0
    for msg in messages:
        problems = violations(msg)
        if listing:
            print("%s: %s: %s" % (msg.where(), msg.kind, msg.text))
        for p in problems:
            bad += 1
            print("%s: %s: %r" % (msg.where(), p, msg.text))
    print("%d messages checked, %d violations" % (len(messages), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
