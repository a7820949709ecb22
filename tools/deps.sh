#!/bin/sh
# Installs the Debian packages pytestmon needs, only those missing.
# Quiet when everything is present; runs `apt-get update` only when it must install.
# PYTESTMON_DEPS_EXTRA adds package names (tests use it to simulate a missing one).
set -eu
PKGS="build-essential pkg-config libmsgpack-dev libuv1-dev libxml2-dev libjansson-dev libcmocka-dev
neovim python3-pytest python3-pytest-xdist python3-pynvim python3-psutil python3-debugpy python3-pytest-cov
python3-pytest-subtests docker.io openssh-server
clang libclang-rt-14-dev valgrind ca-certificates ${PYTESTMON_DEPS_EXTRA:-}"
missing=""
for p in $PKGS; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "pytestmon: missing Debian packages. Run as root:" >&2
    echo "  apt-get install -y$missing" >&2
    exit 1
fi
echo "pytestmon: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
