# debian-apt.sh: sourced by the tools/fetch-*.sh scripts; downloads packages of one Debian suite
# (trixie, sid, ...) with a PRIVATE apt state, never installing anything, and makes an unpacked
# binary run on this host with the suite's own loader and libraries.
#
#   . tools/debian-apt.sh
#   debian_apt_init DESTDIR NAME SUITE # NAME prefixes messages; sets DEST, APTD, ARCH, MIRROR,
#                                      # SUITE, and die() unless the caller defined it
#   apt_private download PKG...        # apt-get with the private state (any apt-get command)
#   debian_unpack DIR PKG...           # download PKGs and dpkg-deb -x them into DIR (replaced)
#   debian_libpath ROOT                # sets LIBDIR, LDSO, LIBPATH of the unpacked ROOT
#   debian_patchelf FILE...            # point FILEs' PT_INTERP and DT_RPATH into ROOT (after
#                                      # debian_libpath); 0 when done, log in $APTD/patchelf.log
#   debian_apt_clean                   # drop the private lists/cache/.debs (cheap to refetch)
#
# - apt runs with a private state (lists, cache, status, sources, preferences) under
#   DESTDIR/.apt; the system's apt state is only read (its apt.conf.d, e.g. a proxy, applies).
# - The mirror URI is read from this machine's Debian sources (deb822
#   /etc/apt/sources.list.d/*.sources or one-line /etc/apt/sources.list*); override with
#   <SUITE>_MIRROR=URI (TRIXIE_MIRROR, SID_MIRROR) or DEBIAN_MIRROR=URI for every suite
#   (NVIM010_MIRROR is honoured for trixie too).
# - Signatures are checked with the machine's Debian keyrings (debian-archive-keyring.gpg, then
#   the per-release keyrings in /usr/share/keyrings: the suite's own first). Only if all fail AND
#   <SUITE>_INSECURE=1 or DEBIAN_INSECURE=1 (for trixie also NVIM010_INSECURE=1) is set does it
#   use `Trusted=yes` (last resort; prints a warning).
# Every failure calls die, which exits.

if ! command -v die >/dev/null 2>&1; then
    die() { echo "${DEBIAN_APT_NAME:-debian-apt}: $*" >&2; exit 1; }
fi

# --- Mirror URI from the machine's own Debian sources --------------------------------------
find_mirror() {
    # deb822: first URIs of a "Types: deb" stanza whose URI is a plain Debian archive
    # (not debian-security / ports / third-party).
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (isdeb && uris != "") {
                    n = split(uris, u, /[ \t]+/)
                    for (i = 1; i <= n; i++)
                        if (u[i] ~ /\/debian\/?$/) { print u[i]; exit }
                }
                isdeb = 0; uris = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1 }
            tolower($1) == "uris:"  { $1 = ""; uris = $0; sub(/^[ \t]+/, "", uris) }
            END { flush() }
        ' "$f"
    done
    # One-line style: "deb [opts] URI suite comps".
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
            awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }'
    done
}

apt_private() {
    apt-get -q \
        -o Dir::State="$APTD" -o Dir::State::Lists="$APTD/lists" \
        -o Dir::State::status="$APTD/status" -o Dir::State::extended_states="$APTD/extended_states" \
        -o Dir::Cache="$APTD/cache" -o Dir::Cache::archives="$APTD/cache/archives" \
        -o Dir::Cache::pkgcache="$APTD/cache/pkgcache.bin" \
        -o Dir::Cache::srcpkgcache="$APTD/cache/srcpkgcache.bin" \
        -o Dir::Etc::sourcelist="$APTD/sources.list" -o Dir::Etc::sourceparts="$APTD/sources.list.d" \
        -o Dir::Etc::preferences="$APTD/preferences" -o Dir::Etc::preferencesparts="$APTD/preferences.d" \
        -o APT::Architecture="$ARCH" -o APT::Architectures="$ARCH" \
        -o APT::Get::List-Cleanup=0 -o Acquire::Languages=none \
        -o Debug::NoLocking=0 "$@"
}

debian_write_sources() { # $1 = Signed-By value, or "" for Trusted=yes
    rm -f "$APTD"/sources.list.d/*.sources
    {
        echo "Types: deb"
        echo "URIs: $MIRROR"
        echo "Suites: $SUITE"
        echo "Components: main"
        echo "Architectures: $ARCH"
        if [ -n "$1" ]; then echo "Signed-By: $1"; else echo "Trusted: yes"; fi
    } > "$APTD/sources.list.d/$SUITE.sources"
}

# The value of the first of the named variables that is set and not empty.
debian_first_var() {
    for _v in "$@"; do
        eval "_val=\${$_v:-}"
        [ -n "$_val" ] && { echo "$_val"; return 0; }
    done
    return 0
}

# debian_apt_init DESTDIR NAME SUITE: private apt state under DESTDIR/.apt with SUITE's lists.
debian_apt_init() {
    DEBIAN_APT_NAME=$2
    SUITE=$3
    mkdir -p "$1" || die "cannot create $1"
    DEST=$(cd "$1" && pwd) || die "cannot enter $1"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Debian/Ubuntu host required)"
    command -v dpkg >/dev/null 2>&1 || die "dpkg not found"
    ARCH=$(dpkg --print-architecture) || die "dpkg --print-architecture failed"
    [ "$ARCH" = amd64 ] || die "only amd64 is supported (host is $ARCH)"
    _SUITE_UC=$(echo "$SUITE" | tr 'a-z-' 'A-Z_')
    _mirror_vars="${_SUITE_UC}_MIRROR DEBIAN_MIRROR"
    _insecure_vars="${_SUITE_UC}_INSECURE DEBIAN_INSECURE"
    if [ "$SUITE" = trixie ]; then
        _mirror_vars="$_mirror_vars NVIM010_MIRROR"
        _insecure_vars="$_insecure_vars NVIM010_INSECURE"
    fi
    # shellcheck disable=SC2086
    MIRROR=$(debian_first_var $_mirror_vars)
    [ -n "$MIRROR" ] || MIRROR=$(find_mirror | head -n 1)
    [ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; set ${_SUITE_UC}_MIRROR=URI"
    MIRROR=${MIRROR%/}

    APTD="$DEST/.apt"
    mkdir -p "$APTD/lists/partial" "$APTD/cache/archives/partial" "$APTD/sources.list.d" \
        "$APTD/preferences.d" "$APTD/debs" || die "cannot create $APTD"
    : > "$APTD/status"      # empty dpkg status: nothing counts as installed
    : > "$APTD/sources.list"
    # apt drops to the _apt user for downloads when root; let it into the private dirs.
    chmod -R a+rX "$APTD" 2>/dev/null || true

    # The archive keyring, then the per-release ones: the suite's own first (sid has none: it is
    # signed with the keys of the latest releases, and the archive keyring usually has them).
    _keyrings="/usr/share/keyrings/debian-archive-keyring.gpg
/usr/share/keyrings/debian-archive-$SUITE-automatic.gpg
/usr/share/keyrings/debian-archive-$SUITE-stable.gpg"
    for _kr in /usr/share/keyrings/debian-archive-*-automatic.gpg \
               /usr/share/keyrings/debian-archive-*-stable.gpg; do
        case "$_kr" in *-security-*|*"-$SUITE-"*) ;; *) _keyrings="$_keyrings
$_kr" ;; esac
    done
    _log="$APTD/update.log"
    _ok=""
    for _kr in $_keyrings; do
        [ -f "$_kr" ] || continue
        debian_write_sources "$_kr"
        # apt-get update exits 0 on some signature problems; treat any W:/E: as failure.
        if apt_private update > "$_log" 2>&1 && ! grep -Eq '^(W|E):' "$_log"; then
            _ok="$_kr"; break
        fi
        # Only a signature problem is worth another keyring; a network/mirror failure is final.
        if ! grep -Eq 'NO_PUBKEY|EXPKEYSIG|signatures? (were|couldn.t be) (invalid|verified)|is not signed|OpenPGP' "$_log"; then
            cat "$_log" >&2
            die "apt-get update for $SUITE failed (mirror $MIRROR): see the messages above"
        fi
    done
    if [ -z "$_ok" ]; then
        # shellcheck disable=SC2086
        if [ "$(debian_first_var $_insecure_vars)" = 1 ]; then
            echo "$DEBIAN_APT_NAME: WARNING: no keyring verifies $SUITE; using Trusted=yes (${_SUITE_UC}_INSECURE=1)" >&2
            debian_write_sources ""
            apt_private update > "$_log" 2>&1 && ! grep -q '^E:' "$_log" || {
                cat "$_log" >&2; die "apt-get update for $SUITE failed (mirror $MIRROR)"; }
        else
            cat "$_log" >&2
            die "$SUITE's Release file could not be verified with the Debian keyrings in /usr/share/keyrings (mirror $MIRROR); ${_SUITE_UC}_INSECURE=1 skips signature checks (last resort)"
        fi
    fi
}

# debian_unpack DIR PKG...: download the packages and unpack them into a fresh DIR.
debian_unpack() {
    _root=$1
    shift
    rm -rf "$APTD/debs"
    mkdir -p "$APTD/debs" || die "cannot create $APTD/debs"
    (cd "$APTD/debs" && apt_private download "$@" > "$APTD/download.log" 2>&1) || {
        cat "$APTD/download.log" >&2; die "apt-get download failed"; }
    rm -rf "$_root.new"
    mkdir -p "$_root.new"
    for _deb in "$APTD"/debs/*.deb; do
        [ -f "$_deb" ] || die "no .deb downloaded"
        dpkg-deb -x "$_deb" "$_root.new" || die "dpkg-deb -x $_deb failed"
    done
    rm -rf "$_root"
    mv "$_root.new" "$_root"
}

# debian_libpath ROOT: the unpacked suite's loader (LDSO) and library path (LIBPATH).
debian_libpath() {
    ROOT=$1
    LIBDIR="$ROOT/usr/lib/$(uname -m)-linux-gnu"
    LDSO="$LIBDIR/ld-linux-x86-64.so.2"
    [ -e "$LDSO" ] || die "$LDSO missing after unpack (is libc6 in the package list?)"
    LIBPATH="$LIBDIR:$ROOT/lib/$(uname -m)-linux-gnu:$ROOT/usr/lib"
}

# debian_patchelf FILE...: make each FILE load the suite's loader and libraries. patchelf (from
# the same suite, run through its loader) sets DT_RPATH (RPATH, unlike RUNPATH, also covers the
# libraries' own dependencies) and PT_INTERP, in two separate calls: one call doing both can
# write a binary that segfaults at start (seen with sid's python3.14). Then /proc/self/exe is
# the real program, runnable as is by its children, and nothing is put in the environment.
# Returns non-zero (log in $APTD/patchelf.log) if any step fails; the caller picks a fallback.
debian_patchelf() {
    _tools="$APTD/tools"
    _rc=0
    rm -rf "$_tools"
    mkdir -p "$_tools/debs"
    : > "$APTD/patchelf.log"
    if (cd "$_tools/debs" && apt_private download patchelf libstdc++6 libgcc-s1 >> "$APTD/patchelf.log" 2>&1) &&
       for _deb in "$_tools"/debs/*.deb; do dpkg-deb -x "$_deb" "$_tools/root" || exit 1; done; then
        _plib="$_tools/root/usr/lib/$(uname -m)-linux-gnu:$LIBPATH"
        for _f in "$@"; do
            "$LDSO" --library-path "$_plib" "$_tools/root/usr/bin/patchelf" \
                --force-rpath --set-rpath "$LIBPATH" "$_f" >> "$APTD/patchelf.log" 2>&1 &&
            "$LDSO" --library-path "$_plib" "$_tools/root/usr/bin/patchelf" \
                --set-interpreter "$LDSO" "$_f" >> "$APTD/patchelf.log" 2>&1 || { _rc=1; break; }
        done
    else
        _rc=1
    fi
    rm -rf "$_tools"
    return $_rc
}

debian_apt_clean() {
    rm -rf "$APTD/lists" "$APTD/cache" "$APTD/debs"
}

# debian_fetch_nvim DESTDIR NAME SUITE VERSION PKG...: Neovim VERSION.x (e.g. "0.10") from SUITE,
# unpacked into DESTDIR/root, with DESTDIR/nvim a wrapper that sets VIMRUNTIME and runs it.
# Idempotent: if DESTDIR/nvim --version already says VERSION.x it does nothing, quietly.
# The binary is patchelf'd (debian_patchelf) so that v:progpath is the real nvim and
# jobstart()/system() children get the host's libraries. Fallback if that fails: a wrapper that
# runs nvim via `ld.so --library-path`; it works too, but v:progpath is then the loader, so
# `jobstart([v:progpath, ...])` would not start nvim.
debian_fetch_nvim() {
    _dest=$1 _name=$2 _suite=$3 _ver=$4
    shift 4
    mkdir -p "$_dest" || die "cannot create $_dest"
    _wrapper="$(cd "$_dest" && pwd)/nvim" || die "cannot enter $_dest"
    _vre=$(echo "$_ver" | sed 's/\./\\./g')
    if [ -x "$_wrapper" ] && "$_wrapper" --version 2>/dev/null | head -n 1 | grep -q "^NVIM v$_vre\."; then
        return 0
    fi
    debian_apt_init "$_dest" "$_name" "$_suite"
    debian_unpack "$DEST/root" "$@"
    debian_libpath "$DEST/root"
    [ -x "$ROOT/usr/bin/nvim" ] || die "$ROOT/usr/bin/nvim missing after unpack"
    [ -d "$ROOT/usr/share/nvim/runtime" ] || die "runtime missing after unpack"

    if debian_patchelf "$ROOT/usr/bin/nvim" && "$ROOT/usr/bin/nvim" --version > /dev/null 2>&1; then
        cat > "$_wrapper.new" <<EOW
#!/bin/sh
# Generated by tools/$_name.sh: Neovim from Debian $_suite; the binary's interpreter and
# RPATH point into $ROOT.
VIMRUNTIME='$ROOT/usr/share/nvim/runtime'
export VIMRUNTIME
exec '$ROOT/usr/bin/nvim' "\$@"
EOW
    else
        echo "$_name: note: patchelf step failed (see $APTD/patchelf.log); using an ld.so wrapper, v:progpath will name the loader" >&2
        cat > "$_wrapper.new" <<EOW
#!/bin/sh
# Generated by tools/$_name.sh: Neovim from Debian $_suite, run via its own loader.
# Only this process gets the $_suite libraries (--library-path, not LD_LIBRARY_PATH).
VIMRUNTIME='$ROOT/usr/share/nvim/runtime'
export VIMRUNTIME
exec '$LDSO' --library-path '$LIBPATH' '$ROOT/usr/bin/nvim' "\$@"
EOW
    fi
    chmod 755 "$_wrapper.new"
    mv "$_wrapper.new" "$_wrapper"

    _got=$("$_wrapper" --version 2>&1 | head -n 1) || die "wrapper fails: $_got"
    # Keep only the unpacked tree: the private lists/cache/.debs are ~100 MB and cheap to refetch.
    debian_apt_clean
    case "$_got" in
        "NVIM v$_ver."*) echo "$_name: $_got in $DEST" ;;
        *) die "unexpected version from $_wrapper: $_got" ;;
    esac
}
