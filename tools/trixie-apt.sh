# trixie-apt.sh: sourced by the fetch-*.sh scripts; downloads packages from Debian 13 (trixie)
# with a PRIVATE apt state, never installing anything.
#
#   . tools/trixie-apt.sh
#   trixie_apt_init DESTDIR NAME     # NAME prefixes messages; sets DEST, APTD, ARCH, MIRROR
#   apt_private download PKG...      # apt-get with the private state (any apt-get command)
#   trixie_unpack DIR PKG...         # download PKGs and dpkg-deb -x them into DIR (replaced)
#   trixie_apt_clean                 # drop the private lists/cache/.debs (cheap to refetch)
#
# - apt runs with a private state (lists, cache, status, sources, preferences) under
#   DESTDIR/.apt; the system's apt state is only read (its apt.conf.d, e.g. a proxy, applies).
# - The mirror URI is read from this machine's Debian sources (deb822
#   /etc/apt/sources.list.d/*.sources or one-line /etc/apt/sources.list*); override with
#   TRIXIE_MIRROR=URI (NVIM010_MIRROR is honoured too).
# - Signatures are checked with the machine's Debian keyrings (debian-archive-keyring.gpg, then
#   the per-release trixie keyrings). Only if all fail AND TRIXIE_INSECURE=1 (or NVIM010_INSECURE=1)
#   is set does it use `Trusted=yes` (last resort; prints a warning).
# Every failure calls die (defined here unless the caller defined it), which exits.

if ! command -v die >/dev/null 2>&1; then
    die() { echo "${TRIXIE_NAME:-trixie-apt}: $*" >&2; exit 1; }
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

trixie_write_sources() { # $1 = Signed-By value, or "" for Trusted=yes
    {
        echo "Types: deb"
        echo "URIs: $MIRROR"
        echo "Suites: trixie"
        echo "Components: main"
        echo "Architectures: $ARCH"
        if [ -n "$1" ]; then echo "Signed-By: $1"; else echo "Trusted: yes"; fi
    } > "$APTD/sources.list.d/trixie.sources"
}

# trixie_apt_init DESTDIR NAME: private apt state under DESTDIR/.apt with trixie's lists.
trixie_apt_init() {
    TRIXIE_NAME=$2
    mkdir -p "$1" || die "cannot create $1"
    DEST=$(cd "$1" && pwd) || die "cannot enter $1"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Debian/Ubuntu host required)"
    command -v dpkg >/dev/null 2>&1 || die "dpkg not found"
    ARCH=$(dpkg --print-architecture) || die "dpkg --print-architecture failed"
    [ "$ARCH" = amd64 ] || die "only amd64 is supported (host is $ARCH)"
    MIRROR=${TRIXIE_MIRROR:-${NVIM010_MIRROR:-$(find_mirror | head -n 1)}}
    [ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; set TRIXIE_MIRROR=URI"
    MIRROR=${MIRROR%/}

    APTD="$DEST/.apt"
    mkdir -p "$APTD/lists/partial" "$APTD/cache/archives/partial" "$APTD/sources.list.d" \
        "$APTD/preferences.d" "$APTD/debs" || die "cannot create $APTD"
    : > "$APTD/status"      # empty dpkg status: nothing counts as installed
    : > "$APTD/sources.list"
    # apt drops to the _apt user for downloads when root; let it into the private dirs.
    chmod -R a+rX "$APTD" 2>/dev/null || true

    _log="$APTD/update.log"
    _ok=""
    for _kr in /usr/share/keyrings/debian-archive-keyring.gpg \
              /usr/share/keyrings/debian-archive-trixie-automatic.gpg \
              /usr/share/keyrings/debian-archive-trixie-stable.gpg; do
        [ -f "$_kr" ] || continue
        trixie_write_sources "$_kr"
        # apt-get update exits 0 on some signature problems; treat any W:/E: as failure.
        if apt_private update > "$_log" 2>&1 && ! grep -Eq '^(W|E):' "$_log"; then
            _ok="$_kr"; break
        fi
        # Only a signature problem is worth another keyring; a network/mirror failure is final.
        if ! grep -Eq 'NO_PUBKEY|EXPKEYSIG|signatures? (were|couldn.t be) (invalid|verified)|is not signed|OpenPGP' "$_log"; then
            cat "$_log" >&2
            die "apt-get update for trixie failed (mirror $MIRROR): see the messages above"
        fi
    done
    if [ -z "$_ok" ]; then
        if [ "${TRIXIE_INSECURE:-${NVIM010_INSECURE:-0}}" = 1 ]; then
            echo "$TRIXIE_NAME: WARNING: no keyring verifies trixie; using Trusted=yes (TRIXIE_INSECURE=1)" >&2
            trixie_write_sources ""
            apt_private update > "$_log" 2>&1 && ! grep -q '^E:' "$_log" || {
                cat "$_log" >&2; die "apt-get update for trixie failed (mirror $MIRROR)"; }
        else
            cat "$_log" >&2
            die "trixie's Release file could not be verified with the Debian keyrings in /usr/share/keyrings (mirror $MIRROR); TRIXIE_INSECURE=1 skips signature checks (last resort)"
        fi
    fi
}

# trixie_unpack DIR PKG...: download the packages and unpack them into a fresh DIR.
trixie_unpack() {
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

trixie_apt_clean() {
    rm -rf "$APTD/lists" "$APTD/cache" "$APTD/debs"
}
