"""Text for the report and the collection record: XML escaping, a test's identity, a report's text.

Owns how what pytest and the tests hand over becomes text the co-process reads: attribute
values and element text as pytest's junitxml writes them (_attr, _text: characters XML 1.0
forbids as "#xHH", lone surrogates replaced), a test's identity (_ident: its node id with NUL and
lone surrogates as U+FFFD) and the `nodeid`/`nodeid-esc` attribute value that carries it
(_id_attr), and a report's text that never fails to render (_longrepr_text). The common case (a
printable ASCII node id, name or path) costs one match: these run for every test.
"""
import re

from .pathmap import _PAIRS, text_to_host

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                          "\r": "&#13;", "\t": "&#9;"})
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Characters XML 1.0 forbids become the literal text "#xHH", as pytest's junitxml writes them.
_FORBIDDEN = {c: "#x%02X" % c for c in list(range(0, 9)) + [11, 12] + list(range(14, 32))}
_FORBIDDEN.update({c: "#x%X" % c for c in (0xFFFE, 0xFFFF)})


def _clean(s):
    s = s.translate(_FORBIDDEN)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        s = s.encode("utf-8", "replace").decode("utf-8")
    return s


# Printable ASCII but for the characters XML escapes: the common node id, name or path, which
# _attr returns as it is (a third of the time of the translations, per test).
_PLAIN = re.compile(r"[ !#-%'-;=?-~]*\Z").match


# A test's identity, the same in the report, the collection record and every event of the
# co-process: pytest's node id, but for what no C string or UTF-8 text can hold (NUL and lone
# surrogates, possible with disable_test_id_escaping_and_forfeit_all_rights_to_community_support
# or a custom collector), which become U+FFFD.
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
# What XML 1.0 cannot hold, even as a character reference.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _ident(s):
    """The identity of node id `s` (see _NOT_TEXT); an ASCII id without NUL (nearly all) costs
    two scans in C, not a regular expression."""
    if s.isascii() and "\x00" not in s:
        return s
    return _NOT_TEXT.sub("\ufffd", s)


def _esc_char(m):
    c = m.group()
    return "\\\\" if c == "\\" else "\\x%02X" % ord(c) if c < " " else "\\u%04X" % ord(c)


_ESC = re.compile("[\\\\\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _id_attr(nodeid):
    r"""The value of a `nodeid` attribute (between its quotes). The text is the node id as
    pytest's junitxml would write it ("#x1B" for ESC); when the id holds characters XML cannot
    carry, `" nodeid-esc="VALUE` follows: the identity with a backslash written `\\`, a control
    `\xHH` and U+FFFE/U+FFFF `\uHHHH` (src/parse/nodeid.c, nodeid_unescape). Plain ids (nearly
    all) cost one match."""
    if _PLAIN(nodeid):
        return nodeid
    ident = _ident(nodeid)
    value = _clean(ident).translate(_ESCAPES)
    if _NOT_XML.search(ident):
        value += '" nodeid-esc="' + _ESC.sub(_esc_char, ident).translate(_ESCAPES)
    return value


def _attr(s):
    s = str(s)
    return s if _PLAIN(s) else _clean(s).translate(_ESCAPES)


def _text(s):
    return _clean(str(s)).translate(_TEXT_ESCAPES)


def _longrepr_text(rep):
    try:
        text = str(rep.longrepr) if rep.longrepr is not None else ""
        return text_to_host(text) if _PAIRS else text
    except Exception as e:  # a repr that fails to render must not lose the result
        return "(pytestmon: cannot render the report: %r)" % (e,)
