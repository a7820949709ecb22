"""pytestmon's pytest plugin: exact facts from pytest itself, for the pytestmon co-process.

Loaded by the co-process with ``-p pytestmon_plugin`` (pytestmon_plugin.py imports this package;
this directory is put first on the child's PYTHONPATH) and active only when
``PYTESTMON_REPORT`` names a file: then it writes
there, as the run goes, a JUnit-shaped XML report (the xunit1 dialect pytest's own junitxml
writes, which the co-process's libxml2 reader already reads), whatever the user did to
pytest's junitxml (``-p no:junitxml``, their own ``--junitxml``) or to the terminal
(``--tb=no``, ``-q``, ``-p no:terminal``). Beyond pytest's junitxml each testcase carries:

- ``nodeid``: pytest's node id (no rebuilding from the mangled classname); when it holds
  characters XML cannot carry (controls, with pytest's forfeit-all-rights option), also
  ``nodeid-esc``, the id reversibly escaped (text._id_attr). Either way the reader gets the test's
  identity (text._ident: NUL and lone surrogates become U+FFFD), the same as in the collection record;
- ``<property name="pytestmon.frames" value="[[path, line], ...]">``: the traceback entries
  of the failure in the user's code, outermost first (absolute paths, 1-based lines), read
  from ``excinfo.traceback`` whatever ``--tb`` says, without pytest's, pluggy's, the
  standard library's or installed packages' frames and without ``__tracebackhide__`` ones;
- ``<property name="pytestmon.rss" value="[rss_at_start, peak]">``: bytes, measured in the
  process that ran the test (an xdist worker's too): the kernel's peak RSS is reset to the RSS
  when the test starts (``/proc/self/clear_refs``; that RSS read from statm) and read after its
  teardown (memory.RssMeter), so a test that touches 200 MB for 5 ms is measured exactly; the
  first test a process measures carries a third value, that process's peak before it (start-up,
  imports, collection). Absent where clear_refs cannot be written;
- ``<property name="pytestmon.gc" value="[gen0,gen1,gen2,collected,uncollectable,ns,garbage]">``:
  the garbage collector during the test, in its process (gcrecord.py), when it ran or gc.garbage grew;
- ``<property name="pytestmon.memfail" value="{...}">``: for a phase that failed for want of
  memory (MemoryError, an OSError with ENOMEM; xdist's report of a worker that died), the facts
  read at once in the process where it happened (memfacts.py): the co-process words which limit
  refused the allocation (src/mem/memfail.h);
- ``<system-out>``/``<system-err>``: the test's captured stdout, and its captured stderr and log
  (setup, call and teardown), each at most 64 KiB (cut with a note saying how much there was);
- ``subtest``: on a testcase of a subtest (pytest 9's subtests, pytest-subtests on pytest 7/8:
  a report of its own in the test's call, for a ``subtests.test()`` block or a unittest
  ``subTest``), written before its test's, for each subtest pytest counts (a failure; a skip or
  xfail where pytest's verbosity counts those): pytest's description of it (``[msg] (i=1)``),
  with the test's node id and its own result, frames and output, no memory;

and the suite carries ``pytestmon.counts``: pytest's own numbers (``pytest_report_teststatus``
categories, as the terminal summary counts them, plus ``deselected``).

The stream also tells, as the run goes (so that the co-process can show live progress without
reading pytest's terminal, which therefore shows what the user chose: no -v is forced):
``<pytestmon-session rootdir="..."/>`` first (pytest's rootdir: the testcases' files are
relative to it), ``<pytestmon-collected count="N"/>`` once the number of tests to run is known and
``<pytestmon-start nodeid="..."/>`` when a test starts (both written by the controller under
xdist). Readers of pytest's own junitxml ignore unknown elements.

When ``PYTESTMON_COLLECT`` names a file (with or without ``PYTESTMON_REPORT``), what pytest
collected is written there as JSON once collection ends: every item's node id, file and source
line range (decorators included; an inherited test's is in its base class's file), the classes
around them (each in its own file) and the collection errors (node id, file, pytest's report
text) (src/parse/collection.h).

When ``PYTESTMON_ARGS`` names a file, it holds arguments exec could not pass (one of more than
32 KiB: a rerun of a test whose id is that long), each behind a placeholder on the command line;
they are put back before pytest parses its arguments (plugin.pytest_load_initial_conftests).

When ``PYTESTMON_COVERAGE`` names a file (:PytestCoverage, the run has pytest-cov's ``--cov``),
coverage.py's JSON report of pytest-cov's combined data is written there at session end
(src/parse/coverage.h reads it): pytest-cov before 4.1 has no JSON report of its own. When coverage.py
cannot write it, ``{"pytestmon_error": "..."}`` is written instead.

Testcases are written when a test's teardown is reported and the document is closed at session
end. The file is read while it grows: it is written through a shared memory map, so every piece
is in the page cache, for the co-process to read, as soon as it is written (no system call per
test), and nothing is lost when pytest dies; until the document is closed the file may end in
zeros (its end is the first NUL byte). Under xdist the workers only compute frames and memory
(they travel as attributes of the report, which xdist carries to the controller, and stay out of
pytest's own --junitxml); the controller writes.

Must import on every interpreter pytest 7+ runs on (Python 3.7+) and must never break a run:
every hook body is guarded, and a failure switches the plugin off with one warning.

The package, one module a concern (each docstring says what it owns): ``plugin`` (the hooks,
which plugin a process registers, the arguments of ``PYTESTMON_ARGS``), ``report`` (the report
file and its format: Writer), ``memory`` (the meter: RssMeter), ``gcrecord`` (the garbage collector
per test: GcRecord), ``memfacts`` (a memory failure's
facts, imported only at one), ``limits`` (pytest-memray's limit_memory marker, when pytest-memray
is not active), ``frames`` (a failure's frames
in the user's code), ``text`` (XML escaping, a test's identity), ``collection`` (the
``PYTESTMON_COLLECT`` record, imported only when it is asked for), ``coverage`` (the
``PYTESTMON_COVERAGE`` report), ``env`` (the variables and the warning of a part that switches
itself off), ``pathmap`` (behind a command prefix, ``PYTESTMON_PATHMAP``: every path written goes
back to where the editor sees it; ``PYTESTMON_STDIN_EOF``: pytest ends when the co-process closes
its stdin). The hooks a test passes through (plugin.Plugin's pytest_runtest_logstart and
pytest_runtest_logreport, the Writer and RssMeter methods they call) are the hot path that
bench/hook_clock.py clocks: a name they use is a global of their own module (``from .x import
name``), not an attribute looked up through another module, and no call layer is added.
"""
from .plugin import pytest_configure, pytest_load_initial_conftests  # noqa: F401  (registered by pytestmon_plugin)
