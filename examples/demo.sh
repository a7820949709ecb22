#!/bin/sh
# make demo: run the plugin headless on examples/demo and print what a user would see.
set -eu
cd "$(dirname "$0")/.."
exec nvim --headless --clean -n -u NONE -c "luafile examples/demo.lua"
