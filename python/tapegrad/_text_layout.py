"""The plain-text layout of ``tg.explain``: wrapped paragraphs and tables that fit a width.

Table cells wrap between the rows of a matrix, never inside one: the
explanation glues those with a no-break space (``GLUE``), printed as a space.
"""
from __future__ import annotations

GLUE = "\u00a0"


def plain(text: str) -> str:
    return text.replace(GLUE, " ")


def wrap(text: str, width: int, first: str = "", rest: str = "") -> list:
    """``text`` in lines of at most ``width`` columns, the first indented by
    ``first``, the others by ``rest`` (see ``fill``)."""
    lines = fill(text, width - len(rest), width - len(first))
    return [plain((first if k == 0 else rest) + line) for k, line in enumerate(lines)]


def fill(text: str, width: int, first_width=None) -> list:
    """Greedy line filling that breaks where a reader expects it: at spaces
    between glued groups (a matrix row stays whole), inside a group only at its
    own spaces when the group alone is too wide, and inside a word only when
    the word alone is. Lines keep their glue (``_plain`` prints it)."""
    lines, cur = [], ""
    for group in text.split(" "):
        limit = first_width if (first_width is not None and not lines) else width
        for piece in pieces(group, min(width, limit)):
            limit = first_width if (first_width is not None and not lines) else width
            joined = f"{cur} {piece}" if cur else piece
            if len(joined) <= limit:
                cur = joined
            else:
                if cur:
                    lines.append(cur)
                cur = piece
    return lines + [cur] if cur or not lines else lines


def pieces(group: str, width: int) -> list:
    """A glued group cut into pieces of at most ``width`` at its glue (and
    words longer than ``width`` cut anywhere)."""
    if len(group) <= width:
        return [group]
    pieces, cur = [], ""
    for word in group.split(GLUE):
        while len(word) > width:
            if cur:
                pieces.append(cur)
                cur = ""
            pieces.append(word[:width])
            word = word[width:]
        joined = f"{cur}{GLUE}{word}" if cur else word
        if len(joined) <= width:
            cur = joined
        else:
            pieces.append(cur)
            cur = word
    return pieces + [cur] if cur else pieces


def table_width(header, lines) -> int:
    """The width of the table with its header wrapped at spaces and no other cell."""
    return sum(max([longest_word([header[j]])] + [len(r[j]) for r in lines])
               for j in range(len(header))) + 2 * (len(header) - 1)


def longest_word(cells) -> int:
    return max((len(w) for c in cells for w in c.split(" ")), default=0)


def table(header, lines, right, names, width: int) -> list:
    """Columns two spaces apart (those in ``right`` right-aligned), with a rule
    under the header. Where the table would be wider than ``width``, the widest
    columns are narrowed: first the header wraps at spaces, then cells wrap at
    spaces onto extra lines. Words are cut only when nothing else is left to
    narrow: first long names (the ``names`` columns, down to 8 characters) and
    header words, never a number."""
    n = len(header)
    rows = [tuple(header)] + [tuple(line) for line in lines]
    widths = [max(len(r[j]) for r in rows) for j in range(n)]
    whole = [min(16, longest_word(r[j] for r in rows)) for j in range(n)]
    body = [longest_word(r[j] for r in rows[1:]) for j in range(n)]
    cells = [max([longest_word([header[j]])] + [len(r[j]) for r in rows[1:]]) for j in range(n)]
    cut_names = [min(8, body[j]) if j in names else whole[j] for j in range(n)]
    cut = [min(8, body[j]) if j in names else body[j] for j in range(n)]
    budget = width - 2 * (n - 1)
    for floor in (cells, whole, cut_names, cut, [4] * n):
        while sum(widths) > budget:
            narrowable = [j for j in range(n) if widths[j] > max(floor[j], 4)]
            if not narrowable:
                break
            widths[max(narrowable, key=lambda j: widths[j])] -= 1

    def render(cells):
        parts = [cell_lines(c, w) for c, w in zip(cells, widths)]
        out = []
        for k in range(max(len(p) for p in parts)):
            line = [(p[k] if k < len(p) else "") for p in parts]
            out.append(plain("  ".join(c.rjust(w) if j in right else c.ljust(w)
                                        for j, (c, w) in enumerate(zip(line, widths)))).rstrip())
        return out

    text = render(rows[0])
    text.append("  ".join("-" * w for w in widths))
    for cells in rows[1:]:
        text += render(cells)
    return text


def cell_lines(text: str, width: int) -> list:
    return [text] if len(text) <= width else fill(text, width)
