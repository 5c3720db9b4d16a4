#!/usr/bin/env bash
# The demo: back up a sample folder into a local repository, list it, restore it and verify
# the restore byte for byte. Everything lives in ./demo-work (removed and made anew each run).
set -euo pipefail
cd "$(dirname "$0")/.."
OFFSITE="$(swift build --show-bin-path)/offsite"
WORK="$PWD/demo-work"
rm -rf "$WORK" && mkdir -p "$WORK/sample/docs" "$WORK/sample/empty-dir"

echo "== making a sample folder in $WORK/sample"
echo "hello from offsite" > "$WORK/sample/hello.txt"
seq 1 200000 > "$WORK/sample/docs/numbers.txt"
head -c 3000000 /dev/urandom > "$WORK/sample/random.bin"
ln -s hello.txt "$WORK/sample/link-to-hello"
: > "$WORK/sample/empty-file"

export RESTIC_REPOSITORY="$WORK/repo"
export RESTIC_PASSWORD="demo password (use --password-file in real life)"

echo "== offsite init"
"$OFFSITE" init
echo "== offsite backup"
"$OFFSITE" backup "$WORK/sample" --tag demo
echo "== second backup (nothing changed, nothing new is stored)"
"$OFFSITE" backup "$WORK/sample" --tag demo --quiet
echo "== offsite snapshots"
"$OFFSITE" snapshots
echo "== offsite ls latest"
"$OFFSITE" ls latest
echo "== offsite restore latest"
"$OFFSITE" restore latest --target "$WORK/restore"
echo "== verify"
diff -r --no-dereference "$WORK/sample" "$WORK/restore$WORK/sample"
echo "restored tree is identical to the original"
if command -v restic >/dev/null 2>&1; then
    echo "== restic check --read-data (restic reads what offsite wrote)"
    restic --no-cache check --read-data
fi
echo "demo finished: repository in $WORK/repo"
