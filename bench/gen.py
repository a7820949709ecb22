#!/usr/bin/python3
"""Deterministic generator of the benchmark suites and JUnit files under build/bench/.

Usage: gen.py OUTDIR [--quick]
Every suite is a directory with its own pytest.ini (so its rootdir is itself). Files are
only rewritten when their content changes, so a second run is cheap.
"""
import os
import sys

INI = "[pytest]\n"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def suite(root, name, nfiles, per_file, fail_every=0, body="pass", sleep=0.0, simple=False):
    """nfiles x per_file test functions; every fail_every-th test (global index) fails."""
    d = os.path.join(root, name)
    write(os.path.join(d, "pytest.ini"), INI)
    wanted = {"test_m%03d.py" % fi for fi in range(nfiles)}
    if os.path.isdir(d):
        for f in os.listdir(d):
            if f.startswith("test_") and f.endswith(".py") and f not in wanted:
                os.unlink(os.path.join(d, f))
    k = 0
    for fi in range(nfiles):
        out = ["import time\n\n"] if sleep else []
        for ti in range(per_file):
            fails = fail_every and k % fail_every == fail_every - 1
            out.append("def test_%05d():\n" % ti)
            if sleep:
                out.append("    time.sleep(%r)\n" % sleep)
            if fails and simple:
                out.append("    value = %d\n" % k)
                out.append("    assert value == %d\n" % (k + 1))
            elif fails:
                out.append("    data = {'id': %d, 'values': [1, 2, 3, %d]}\n" % (k, k % 7))
                out.append("    assert data == {'id': %d, 'values': [1, 2, 3, %d]}\n" % (k, k % 7 + 1))
            else:
                out.append("    %s\n" % body)
            out.append("\n\n")
            k += 1
        write(os.path.join(d, "test_m%03d.py" % fi), "".join(out))
    return d


HELPER = '''def check_values(values, expected):
    """Compare two lists the long way (a helper frame in tracebacks)."""
    for i, (a, b) in enumerate(zip(values, expected)):
        compare_item(i, a, b)


def compare_item(i, a, b):
    assert a == b, "item %d differs" % i
'''


def junit_xml(root, name, ncases, nfail, nfiles=100):
    """A pytest-7.2-style xunit1 report of ncases testcases, nfail of them failing with long
    tracebacks; the test files it names exist (one 4-line function per testcase)."""
    d = os.path.join(root, name)
    write(os.path.join(d, "pytest.ini"), INI)
    write(os.path.join(d, "tests", "__init__.py"), "")
    write(os.path.join(d, "tests", "helpers.py"), HELPER)
    per_file = (ncases + nfiles - 1) // nfiles
    every = ncases // nfail if nfail else 0
    for fi in range(nfiles):
        src = ["from tests.helpers import check_values\n", "\n"]
        for ti in range(per_file):
            src.append("def test_case_%05d():\n" % ti)
            src.append("    values = [1, 2, 3, %d]\n" % (ti % 9))
            src.append("    check_values(values, [1, 2, 3, %d])\n" % (ti % 9 + 1))
            src.append("\n")
        write(os.path.join(d, "tests", "test_mod_%03d.py" % fi), "".join(src))
    parts = ['<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
             'errors="0" failures="%d" skipped="0" tests="%d" time="123.456" '
             'timestamp="2024-01-01T00:00:00.000000" hostname="bench">' % (nfail, ncases)]
    sep = "_ " * 50
    k = 0
    for fi in range(nfiles):
        mod = "tests/test_mod_%03d.py" % fi
        cls = "tests.test_mod_%03d" % fi
        for ti in range(per_file):
            if k >= ncases:
                break
            line0 = 2 + ti * 4  # 0-based def line
            head = '<testcase classname="%s" name="test_case_%05d" file="%s" line="%d" time="0.%03d"' % (
                cls, ti, mod, line0, k % 1000)
            if every and k % every == every - 1:
                a, b = ti % 9, ti % 9 + 1
                msg = "AssertionError: item 3 differs&#10;assert %d == %d" % (a, b)
                text = (
                    "def test_case_%05d():\n"
                    "        values = [1, 2, 3, %d]\n"
                    "&gt;       check_values(values, [1, 2, 3, %d])\n"
                    "\n"
                    "%s:%d: \n"
                    "%s\n"
                    "tests/helpers.py:4: in check_values\n"
                    "    compare_item(i, a, b)\n"
                    "%s\n"
                    "\n"
                    "i = 3, a = %d, b = %d\n"
                    "\n"
                    "    def compare_item(i, a, b):\n"
                    "&gt;       assert a == b, &quot;item %%d differs&quot; %% i\n"
                    "E       AssertionError: item 3 differs\n"
                    "E       assert %d == %d\n"
                    "E         +%d\n"
                    "E         -%d\n"
                    "\n"
                    "tests/helpers.py:8: AssertionError"
                ) % (ti, a, b, mod, line0 + 3, sep, sep, a, b, a, b, a, b)
                parts.append('%s><failure message="%s">%s</failure></testcase>' % (head, msg, text))
            else:
                parts.append(head + " />")
            k += 1
    parts.append("</testsuite></testsuites>")
    write(os.path.join(root, name + ".xml"), "".join(parts))
    return d


def coverage_project(root, name, nmods, funcs, big_funcs):
    """A package of nmods modules with `funcs` functions of 5 statements each (def + 4) and one
    `big` module of big_funcs such functions; the test imports every module and calls the even
    functions, so about half the statements are missing. ~100k statements at 1000 x 20 + 20 x
    ... (section 6 of run.py)."""
    d = os.path.join(root, name)
    write(os.path.join(d, "pytest.ini"), INI)
    write(os.path.join(d, "covpkg", "__init__.py"), "")

    def module(n):
        out = []
        for i in range(n):
            out.append("def f%d(x):\n    a = x + %d\n    b = a * 2\n    c = b - a\n    return c\n\n\n" % (i, i))
        return "".join(out)

    for m in range(nmods):
        write(os.path.join(d, "covpkg", "m%04d.py" % m), module(funcs))
    write(os.path.join(d, "covpkg", "big.py"), module(big_funcs))
    write(os.path.join(d, "tests", "test_cov.py"),
          "import importlib\n\n\n"
          "def test_half():\n"
          "    names = ['covpkg.m%%04d' %% m for m in range(%d)] + ['covpkg.big']\n"
          "    for name in names:\n"
          "        mod = importlib.import_module(name)\n"
          "        n = %d if name.endswith('big') else %d\n"
          "        for i in range(0, n, 2):\n"
          "            getattr(mod, 'f%%d' %% i)(i)\n" % (nmods, big_funcs, funcs))


def main():
    out = sys.argv[1]
    quick = "--quick" in sys.argv
    q = 10 if quick else 1  # quick mode: suites a tenth of the size
    suite(out, "pass2k", 20, 100 // q)
    suite(out, "fail2k", 20, 100 // q, fail_every=4)
    suite(out, "tiny20k", 40, 12 if quick else 500)
    # small files: pytest re-parses a module's AST for every failure in it (quadratic)
    suite(out, "fail5k", 250, 4 if quick else 20, fail_every=1, simple=True)
    suite(out, "small_fail", 1, 10, fail_every=3)
    # xdist: 8 workers x ~N s of sleeping tests
    suite(out, "xdist", 8, 40 // (4 if quick else 1), sleep=0.05)
    # ~100k statements (1000 modules x 100 + a 5,000-statement module opened in the editor)
    coverage_project(out, "cov100k", 100 if quick else 1000, 20, 1000)
    junit_xml(out, "junit10k", 10000, 1000)
    junit_xml(out, "junit100k", 100000, 10000)


if __name__ == "__main__":
    main()
