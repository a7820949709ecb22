#!/bin/sh
# fetch-nvim010.sh DESTDIR: unpack Neovim 0.10.x from Debian 13 (trixie) into DESTDIR without
# installing anything, and write DESTDIR/nvim, a wrapper that runs it with trixie's own dynamic
# loader and libraries (so the host's bookworm libraries are never mixed in).
#
# - apt runs with a PRIVATE state (lists, cache, status, sources, preferences) under
#   DESTDIR/.apt; the system's apt state is only read (its apt.conf.d, e.g. a proxy, applies).
# - The mirror URI is read from this machine's Debian sources (deb822
#   /etc/apt/sources.list.d/*.sources or one-line /etc/apt/sources.list*); override with
#   NVIM010_MIRROR=URI.
# - Signatures are checked with the machine's Debian keyrings (debian-archive-keyring.gpg, then
#   the per-release trixie keyrings). Only if all fail AND NVIM010_INSECURE=1 is set does it use
#   `Trusted=yes` (last resort; prints a warning).
# - Idempotent: if DESTDIR/nvim --version already works it does nothing, quietly.
# - Exit status: 0 ok; non-zero with a "fetch-nvim010: ..." message on stderr otherwise.
set -eu

# Runtime packages of trixie's neovim (Depends closure minus what the host provides, checked
# with readelf: every DT_NEEDED of nvim and its libraries resolves inside DESTDIR/root).
PKGS="neovim neovim-runtime libc6 libgcc-s1 libluajit-5.1-2 libluajit-5.1-common libmsgpack-c2
libtree-sitter0.22 libunibilium4 libuv1t64 libvterm0 lua-lpeg lua-luv"

die() { echo "fetch-nvim010: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: sh tools/fetch-nvim010.sh DESTDIR"
mkdir -p "$1" || die "cannot create $1"
DEST=$(cd "$1" && pwd) || die "cannot enter $1"
WRAPPER="$DEST/nvim"

# Idempotent fast path: already working -> nothing to do, no output.
if [ -x "$WRAPPER" ] && "$WRAPPER" --version 2>/dev/null | head -n 1 | grep -q '^NVIM v0\.10\.'; then
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Debian/Ubuntu host required)"
command -v dpkg >/dev/null 2>&1 || die "dpkg not found"
ARCH=$(dpkg --print-architecture) || die "dpkg --print-architecture failed"
[ "$ARCH" = amd64 ] || die "only amd64 is supported (host is $ARCH)"

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
MIRROR=${NVIM010_MIRROR:-$(find_mirror | head -n 1)}
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; set NVIM010_MIRROR=URI"
MIRROR=${MIRROR%/}

# --- Private apt state -------------------------------------------------------------------------
APTD="$DEST/.apt"
mkdir -p "$APTD/lists/partial" "$APTD/cache/archives/partial" "$APTD/sources.list.d" \
    "$APTD/preferences.d" "$APTD/debs" || die "cannot create $APTD"
: > "$APTD/status"      # empty dpkg status: nothing counts as installed
: > "$APTD/sources.list"
# apt drops to the _apt user for downloads when root; let it into the private dirs.
chmod -R a+rX "$APTD" 2>/dev/null || true

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

write_sources() { # $1 = Signed-By value, or "" for Trusted=yes
    {
        echo "Types: deb"
        echo "URIs: $MIRROR"
        echo "Suites: trixie"
        echo "Components: main"
        echo "Architectures: $ARCH"
        if [ -n "$1" ]; then echo "Signed-By: $1"; else echo "Trusted: yes"; fi
    } > "$APTD/sources.list.d/trixie.sources"
}

log="$APTD/update.log"
ok=""
for kr in /usr/share/keyrings/debian-archive-keyring.gpg \
          /usr/share/keyrings/debian-archive-trixie-automatic.gpg \
          /usr/share/keyrings/debian-archive-trixie-stable.gpg; do
    [ -f "$kr" ] || continue
    write_sources "$kr"
    # apt-get update exits 0 on some signature problems; treat any W:/E: about trixie as failure.
    if apt_private update > "$log" 2>&1 && ! grep -Eq '^(W|E):' "$log"; then
        ok="$kr"; break
    fi
    # Only a signature problem is worth another keyring; a network/mirror failure is final.
    if ! grep -Eq 'NO_PUBKEY|EXPKEYSIG|signatures? (were|couldn.t be) (invalid|verified)|is not signed|OpenPGP' "$log"; then
        cat "$log" >&2
        die "apt-get update for trixie failed (mirror $MIRROR): see the messages above"
    fi
done
if [ -z "$ok" ]; then
    if [ "${NVIM010_INSECURE:-0}" = 1 ]; then
        echo "fetch-nvim010: WARNING: no keyring verifies trixie; using Trusted=yes (NVIM010_INSECURE=1)" >&2
        write_sources ""
        apt_private update > "$log" 2>&1 && ! grep -q '^E:' "$log" || {
            cat "$log" >&2; die "apt-get update for trixie failed (mirror $MIRROR)"; }
    else
        cat "$log" >&2
        die "trixie's Release file could not be verified with the Debian keyrings in /usr/share/keyrings (mirror $MIRROR); NVIM010_INSECURE=1 skips signature checks (last resort)"
    fi
fi

# --- Download and unpack -----------------------------------------------------------------------
cd "$APTD/debs"
rm -f ./*.deb
# shellcheck disable=SC2086
apt_private download $PKGS > "$APTD/download.log" 2>&1 || {
    cat "$APTD/download.log" >&2; die "apt-get download failed"; }

ROOT="$DEST/root"
rm -rf "$ROOT.new"
mkdir -p "$ROOT.new"
for deb in ./*.deb; do
    [ -f "$deb" ] || die "no .deb downloaded"
    dpkg-deb -x "$deb" "$ROOT.new" || die "dpkg-deb -x $deb failed"
done
rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"

LIBDIR="$ROOT/usr/lib/$(uname -m)-linux-gnu"
LDSO="$LIBDIR/ld-linux-x86-64.so.2"
[ -e "$LDSO" ] || die "$LDSO missing after unpack"
[ -x "$ROOT/usr/bin/nvim" ] || die "$ROOT/usr/bin/nvim missing after unpack"
[ -d "$ROOT/usr/share/nvim/runtime" ] || die "runtime missing after unpack"
LIBPATH="$LIBDIR:$ROOT/lib/$(uname -m)-linux-gnu:$ROOT/usr/lib"

# Make nvim itself load trixie's loader and libraries: patchelf (from trixie, run through the
# same loader) sets PT_INTERP and DT_RPATH (RPATH, unlike RUNPATH, also covers the libraries'
# own dependencies). Then /proc/self/exe, and so v:progpath, is the real nvim, runnable as is,
# and jobstart()/system() children get the host's libraries (nothing is put in the environment).
# Fallback if that fails: a wrapper that runs nvim via `ld.so --library-path`; it works too, but
# v:progpath is then the loader, so `jobstart([v:progpath, ...])` would not start nvim.
TOOLS="$APTD/tools"
patched=""
rm -rf "$TOOLS"
mkdir -p "$TOOLS/debs"
if (cd "$TOOLS/debs" && apt_private download patchelf libstdc++6 > "$APTD/patchelf.log" 2>&1) &&
   for deb in "$TOOLS"/debs/*.deb; do dpkg-deb -x "$deb" "$TOOLS/root" || exit 1; done &&
   "$LDSO" --library-path "$TOOLS/root/usr/lib/$(uname -m)-linux-gnu:$LIBPATH" \
       "$TOOLS/root/usr/bin/patchelf" --set-interpreter "$LDSO" --force-rpath --set-rpath "$LIBPATH" \
       "$ROOT/usr/bin/nvim" >> "$APTD/patchelf.log" 2>&1 &&
   "$ROOT/usr/bin/nvim" --version > /dev/null 2>&1; then
    patched=1
fi
rm -rf "$TOOLS"

if [ -n "$patched" ]; then
    cat > "$WRAPPER.new" <<EOF
#!/bin/sh
# Generated by tools/fetch-nvim010.sh: Neovim from Debian trixie; the binary's interpreter and
# RPATH point into $ROOT.
VIMRUNTIME='$ROOT/usr/share/nvim/runtime'
export VIMRUNTIME
exec '$ROOT/usr/bin/nvim' "\$@"
EOF
else
    echo "fetch-nvim010: note: patchelf step failed (see $APTD/patchelf.log); using an ld.so wrapper, v:progpath will name the loader" >&2
    cat > "$WRAPPER.new" <<EOF
#!/bin/sh
# Generated by tools/fetch-nvim010.sh: Neovim from Debian trixie, run via its own loader.
# Only this process gets the trixie libraries (--library-path, not LD_LIBRARY_PATH).
VIMRUNTIME='$ROOT/usr/share/nvim/runtime'
export VIMRUNTIME
exec '$LDSO' --library-path '$LIBPATH' '$ROOT/usr/bin/nvim' "\$@"
EOF
fi
chmod 755 "$WRAPPER.new"
mv "$WRAPPER.new" "$WRAPPER"

ver=$("$WRAPPER" --version 2>&1 | head -n 1) || die "wrapper fails: $ver"
# Keep only the unpacked tree: the private lists/cache/.debs are ~100 MB and cheap to refetch.
rm -rf "$APTD/lists" "$APTD/cache" "$APTD/debs"
case "$ver" in
    "NVIM v0.10."*) echo "fetch-nvim010: $ver in $DEST" ;;
    *) die "unexpected version from $WRAPPER: $ver" ;;
esac
