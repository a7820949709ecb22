#!/bin/sh
# fetch-pytest9.sh DESTDIR: unpack Python 3.14 and pytest 9 from Debian unstable (sid) into
# DESTDIR without installing anything, and make DESTDIR/python a symlink to sid's python3.14
# binary, patchelf'd to load sid's own loader and libraries (debian_patchelf in
# tools/debian-apt.sh: --set-rpath and --set-interpreter in two calls; one call doing both
# writes a binary that segfaults). Its prefix is DESTDIR/root/usr, so its sys.path holds sid's
# standard library and sid's packages in DESTDIR/root/usr/lib/python3/dist-packages, nothing of
# the host's: pytest 9.1 with pluggy, iniconfig, packaging and pygments, pytest-xdist and
# execnet, debugpy, pytest-cov and coverage (its C tracer built for 3.14), psutil.
# sys.executable is the symlink, runnable as is: xdist's workers and debugpy's adapter start it
# again (a wrapper calling sid's ld.so would leave sys.executable naming a binary that cannot
# run on this host, so there is no such fallback: if patchelf fails, the fetch fails).
#
# The private-apt part (mirror, keyrings, SID_MIRROR / SID_INSECURE, DEBIAN_MIRROR /
# DEBIAN_INSECURE) is tools/debian-apt.sh.
# Idempotent: if DESTDIR/python already imports pytest 9 and the rest it does nothing, quietly.
# Exit status: 0 ok; non-zero with a "fetch-pytest9: ..." message on stderr otherwise.
set -eu

# python3.14's Depends closure (the libraries its binary and standard library's extension
# modules need, checked with ld.so --list), then the Python packages.
PKGS="python3.14 python3.14-minimal libpython3.14-minimal libpython3.14-stdlib libc6 libgcc-s1
libstdc++6 libssl3t64 libexpat1 zlib1g libbz2-1.0 libdb5.3t64 libffi8 liblzma5 libncursesw6
libreadline8t64 libsqlite3-0 libtinfo6 libuuid1 libzstd1
python3-pytest python3-pluggy python3-iniconfig python3-packaging python3-pygments
python3-pytest-xdist python3-execnet python3-debugpy python3-pytest-cov python3-coverage
python3-psutil"

die() { echo "fetch-pytest9: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: sh tools/fetch-pytest9.sh DESTDIR"
mkdir -p "$1" || die "cannot create $1"
PY="$(cd "$1" && pwd)/python"

# Everything the pytest 9 leg uses, imported by the interpreter that sys.executable names.
CHECK='import sys, subprocess
import pytest, xdist, execnet, debugpy, pytest_cov, psutil
from coverage.tracer import CTracer
assert sys.version_info[:2] == (3, 14), sys.version
r = subprocess.run([sys.executable, "-c", "import pytest; print(pytest.__version__)"],
                   capture_output=True, text=True)
assert r.returncode == 0 and r.stdout.strip() == pytest.__version__, (sys.executable, r)
print(pytest.__version__)'
pytest_version() {
    "$PY" -I -c "$CHECK" 2>/dev/null
}
case "$( [ -x "$PY" ] && pytest_version)" in 9.*) exit 0 ;; esac

. "$(dirname "$0")/debian-apt.sh"
debian_apt_init "$1" fetch-pytest9 sid
# shellcheck disable=SC2086
debian_unpack "$DEST/root" $PKGS
debian_libpath "$DEST/root"
BIN="$ROOT/usr/bin/python3.14"
[ -x "$BIN" ] || die "$BIN missing after unpack"
[ -f "$ROOT/usr/lib/python3/dist-packages/pytest/__init__.py" ] || die "pytest missing after unpack"
debian_patchelf "$BIN" || {
    cat "$APTD/patchelf.log" >&2; die "patchelf could not point $BIN at sid's loader"; }
"$BIN" -c 'import sys' || die "the patchelf'd $BIN does not start"

rm -f "$PY.new"
ln -s "$BIN" "$PY.new"
mv -f "$PY.new" "$PY"
debian_apt_clean
ver=$(pytest_version) || die "$PY cannot run pytest 9's leg: $("$PY" -I -c "$CHECK" 2>&1 | tail -n 1)"
case "$ver" in
    9.*) echo "fetch-pytest9: pytest $ver on Python $("$PY" -c 'import platform; print(platform.python_version())') in $DEST" ;;
    *) die "unexpected pytest version from $PY: $ver" ;;
esac
