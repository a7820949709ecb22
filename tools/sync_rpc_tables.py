#!/usr/bin/python3
"""Rewrites HACKING.md's RPC method and event tables from the co-process's own
(`pytestmon --rpc-methods`, `--rpc-events`), between their <!-- rpc-methods --> and
<!-- rpc-events --> markers. Run after changing a method's params or an event's fields in
src/server.c (tests/integration/test_rpc_protocol.py checks that they agree):

    make && /usr/bin/python3 tools/sync_rpc_tables.py [build/pytestmon]
"""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build", "pytestmon")
    path = os.path.join(REPO, "HACKING.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for marker, flag in (("rpc-methods", "--rpc-methods"), ("rpc-events", "--rpc-events")):
        table = subprocess.run([binary, flag], capture_output=True, text=True, check=True).stdout
        head, rest = text.split(f"<!-- {marker} -->\n", 1)
        _, tail = rest.split(f"<!-- /{marker} -->", 1)
        text = f"{head}<!-- {marker} -->\n{table}<!-- /{marker} -->{tail}"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
