#!/bin/sh
# fetch-nvim010.sh DESTDIR: unpack Neovim 0.10.x from Debian 13 (trixie) into DESTDIR without
# installing anything, and write DESTDIR/nvim, a wrapper that runs it with trixie's own dynamic
# loader and libraries (so the host's bookworm libraries are never mixed in).
#
# - The private-apt part is tools/debian-apt.sh (debian_fetch_nvim): a PRIVATE apt state under
#   DESTDIR/.apt, the mirror from this machine's Debian sources (override: NVIM010_MIRROR,
#   TRIXIE_MIRROR or DEBIAN_MIRROR=URI), signatures checked with the machine's Debian keyrings
#   (NVIM010_INSECURE=1, TRIXIE_INSECURE=1 or DEBIAN_INSECURE=1 falls back to `Trusted=yes`,
#   last resort, with a warning).
# - Idempotent: if DESTDIR/nvim --version already works it does nothing, quietly.
# - Exit status: 0 ok; non-zero with a "fetch-nvim010: ..." message on stderr otherwise.
set -eu

# Runtime packages of trixie's neovim (Depends closure minus what the host provides, checked
# with readelf: every DT_NEEDED of nvim and its libraries resolves inside DESTDIR/root).
PKGS="neovim neovim-runtime libc6 libgcc-s1 libluajit-5.1-2 libluajit-5.1-common libmsgpack-c2
libtree-sitter0.22 libunibilium4 libuv1t64 libvterm0 lua-lpeg lua-luv"

die() { echo "fetch-nvim010: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: sh tools/fetch-nvim010.sh DESTDIR"
. "$(dirname "$0")/debian-apt.sh"
# shellcheck disable=SC2086
debian_fetch_nvim "$1" fetch-nvim010 trixie 0.10 $PKGS
