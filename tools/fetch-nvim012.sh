#!/bin/sh
# fetch-nvim012.sh DESTDIR: unpack Neovim 0.12.x from Debian unstable (sid) into DESTDIR without
# installing anything, and write DESTDIR/nvim, a wrapper that runs it with sid's own dynamic
# loader and libraries (so the host's libraries are never mixed in). As tools/fetch-nvim010.sh.
#
# - The private-apt part is tools/debian-apt.sh (debian_fetch_nvim): a PRIVATE apt state under
#   DESTDIR/.apt, the mirror from this machine's Debian sources (override: SID_MIRROR or
#   DEBIAN_MIRROR=URI), signatures checked with the machine's Debian keyrings (SID_INSECURE=1
#   or DEBIAN_INSECURE=1 falls back to `Trusted=yes`, last resort, with a warning).
# - Idempotent: if DESTDIR/nvim --version already works it does nothing, quietly.
# - Exit status: 0 ok; non-zero with a "fetch-nvim012: ..." message on stderr otherwise.
set -eu

# Runtime packages of sid's neovim 0.12 (Depends closure minus what the host provides, checked
# with readelf: every DT_NEEDED of nvim and its libraries resolves inside DESTDIR/root).
PKGS="neovim neovim-runtime libc6 libgcc-s1 libluajit-5.1-2 libluajit-5.1-common
libtree-sitter0.26 libunibilium4 libutf8proc3 libuv1t64 lua-lpeg lua-luv"

die() { echo "fetch-nvim012: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: sh tools/fetch-nvim012.sh DESTDIR"
. "$(dirname "$0")/debian-apt.sh"
# shellcheck disable=SC2086
debian_fetch_nvim "$1" fetch-nvim012 sid 0.12 $PKGS
