"""Read gettext PO files and compare their messages with the English ones.

Shared by tools/gen-catalogs and tools/check-catalogs. Only the part of
the PO format that exoconnect uses is accepted: msgid and msgstr with
continuation lines, "#" comments and "#," flags. msgctxt, msgid_plural
and positional printf arguments (%1$s) are errors, because tr() has no
plural or context lookup and the C code passes arguments in order.
"""

import re

# A catalog larger than this is not one of ours.
MAX_PO_SIZE = 4 * 1024 * 1024

# A printf conversion as C99 defines it, with "*" widths.
CONVERSION_RE = re.compile(
    r"%(?P<pos>\d+\$)?(?P<flags>[-+ #0']*)(?P<width>\*|\d+)?"
    r"(?:\.(?P<prec>\*|\d*))?(?P<length>hh|h|ll|l|j|z|t|L)?"
    r"(?P<conv>[diouxXeEfFgGaAcspn%])")

# The argument type each conversion reads, so %d and %i compare equal.
ARG_TYPES = {"d": "int", "i": "int", "o": "unsigned", "u": "unsigned",
             "x": "unsigned", "X": "unsigned", "e": "double",
             "E": "double", "f": "double", "F": "double", "g": "double",
             "G": "double", "a": "double", "A": "double", "c": "int",
             "s": "string", "p": "pointer", "n": "count"}

PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

PO_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class CatalogError(Exception):
    """A PO file that cannot be read, with file and line."""


class Entry:
    """One message of a PO file: msgid, msgstr, flags and line."""

    def __init__(self, msgid, msgstr, flags, line):
        self.msgid = msgid
        self.msgstr = msgstr
        self.flags = flags
        self.line = line


def unquote(text, path, line):
    """Return the content of one PO string token such as "a\\n"."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise CatalogError(f"{path}:{line}: expected a quoted string")
    body = text[1:-1]
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            raise CatalogError(f"{path}:{line}: unescaped quote")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(body) or body[i + 1] not in PO_ESCAPES:
            raise CatalogError(f"{path}:{line}: unknown escape")
        out.append(PO_ESCAPES[body[i + 1]])
        i += 2
    return "".join(out)


def parse_po(path):
    """Return (header text, [Entry]) of a PO file; raise CatalogError."""
    with open(path, "rb") as f:
        data = f.read(MAX_PO_SIZE + 1)
    if len(data) > MAX_PO_SIZE:
        raise CatalogError(f"{path}: larger than {MAX_PO_SIZE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CatalogError(f"{path}: not UTF-8 ({e})") from None

    entries = []
    header = None
    flags = set()
    field = None
    current = {}
    start = 0

    def finish():
        nonlocal header, flags, current, field
        if not current:
            return
        if "msgid" not in current or "msgstr" not in current:
            raise CatalogError(f"{path}:{start}: msgid without msgstr")
        if current["msgid"] == "":
            if header is not None:
                raise CatalogError(f"{path}:{start}: second header")
            header = current["msgstr"]
        else:
            entries.append(Entry(current["msgid"], current["msgstr"],
                                 flags, start))
        flags = set()
        current = {}
        field = None

    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if line == "":
            finish()
        elif line.startswith("#~"):
            continue
        elif line.startswith("#,"):
            finish()
            flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
        elif line.startswith("#"):
            if field is not None:
                finish()
        elif line.startswith('"'):
            if field is None:
                raise CatalogError(f"{path}:{number}: string outside an "
                                   f"entry")
            current[field] += unquote(line, path, number)
        else:
            keyword, _, rest = line.partition(" ")
            if keyword not in ("msgid", "msgstr"):
                raise CatalogError(f"{path}:{number}: {keyword} is not "
                                   f"supported")
            if keyword == "msgid":
                finish()
                start = number
            if keyword in current:
                raise CatalogError(f"{path}:{number}: second {keyword}")
            field = keyword
            current[field] = unquote(rest.strip(), path, number)
    finish()
    return header or "", entries


def conversions(text):
    """Return the argument types that text reads as a printf format.

    Raise ValueError for a positional argument or a stray "%".
    """
    types = []
    pos = 0
    for m in CONVERSION_RE.finditer(text):
        if "%" in text[pos:m.start()]:
            raise ValueError("a '%' that starts no conversion")
        pos = m.end()
        if m.group("conv") == "%":
            continue
        if m.group("pos"):
            raise ValueError("positional argument " + m.group(0))
        if m.group("width") == "*":
            types.append("int")
        if m.group("prec") == "*":
            types.append("int")
        types.append((m.group("length") or "") +
                     ARG_TYPES[m.group("conv")])
    if "%" in text[pos:]:
        raise ValueError("a '%' that starts no conversion")
    return types


def placeholders(text):
    """Return the sorted {name} placeholders of an event template."""
    return sorted(PLACEHOLDER_RE.findall(text))


def compare(entry, c_format):
    """Return a list of problems of entry's translation, empty when fine.

    c_format is whether the English message is a printf format.
    """
    problems = []
    if entry.msgstr == "":
        return ["no translation"]
    if c_format:
        try:
            want = conversions(entry.msgid)
            got = conversions(entry.msgstr)
        except ValueError as e:
            return [str(e)]
        if want != got:
            problems.append(f"printf conversions {got} differ from the "
                            f"English {want}")
    if placeholders(entry.msgid) != placeholders(entry.msgstr):
        problems.append(f"placeholders {placeholders(entry.msgstr)} "
                        f"differ from the English "
                        f"{placeholders(entry.msgid)}")
    return problems
