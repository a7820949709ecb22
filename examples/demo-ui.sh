#!/bin/sh
# make demo-ui: a real Neovim on examples/demo with the plugin loaded and the run started.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
cd examples/demo
exec nvim --clean -n \
    --cmd "set rtp^=$root" \
    -c "runtime plugin/pytest.lua" \
    -c "lua require('pytest').setup({ python = '/usr/bin/python3' })" \
    -c "set laststatus=2 statusline=%f\ %=%{v:lua.require'pytest'.statusline()}" \
    -c "edit tests/test_basics.py" -c "PytestRun"
