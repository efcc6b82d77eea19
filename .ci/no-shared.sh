#!/usr/bin/env bash
# CI job: the unit suite as a user's plain clone sees it, with no ../shared beside it.
#
# CI itself always has ../shared (the whole SigmaHQ corpus, cli-contract), so nothing else would
# notice a test that starts reading it again. This clones the checkout's HEAD into a temporary
# folder with nothing beside it and runs the suite there with the copy's own code, reusing the
# checkout's .venv, its compiled accelerators and .venv-sigma-cli; the `lab` tests are left to the main run, which has
# them already (they do not read ../shared). It fails when a test fails, or when a skip is not one
# of the two documented kinds (the whole SigmaHQ corpus, the CLI contract checker).
#
# Run as root from the checkout, after `./bootstrap.sh setup`: .ci/no-shared.sh
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK=$(mktemp -d /tmp/recon-harness-no-shared.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
t0=$(date +%s)
git clone --quiet --shared "$REPO" "$WORK/repo"
[ ! -e "$WORK/shared" ] || { echo "no-shared: $WORK/shared exists" >&2; exit 2; }
ln -s "$REPO/.venv-sigma-cli" "$WORK/repo/.venv-sigma-cli"
# The copy's own harness package, not the checkout's editable install (the harness tells its own
# checkout's atomics from others by path), with the C accelerators the checkout already built.
(cd "$REPO" && find harness -name '*.so' -exec cp --parents {} "$WORK/repo/" \;)
export PYTHONPATH="$WORK/repo"
cd "$WORK/repo"
where=$("$REPO/.venv/bin/python" -c 'import harness; print(harness.__file__)')
[ "$where" = "$WORK/repo/harness/__init__.py" ] || { echo "no-shared: harness imported from $where" >&2; exit 2; }
env -u RECON_HARNESS_SIGMAHQ_RULES -u RECON_HARNESS_CLI_CONTRACT \
  "$REPO/.venv/bin/pytest" tests/ -p no:cacheprovider -q -rs -m 'not lab' 2>&1 | tee "$WORK/log"
rc=${PIPESTATUS[0]}
unexpected=$(grep '^SKIPPED' "$WORK/log" | grep -v -e 'the whole SigmaHQ corpus is not at' \
  -e 'the CLI contract checker is not at' | grep -i 'shared' || true)
if [ -n "$unexpected" ]; then
  echo "no-shared: skips that need ../shared without saying how to get it:" >&2
  echo "$unexpected" >&2
  rc=1
fi
echo "== .ci/no-shared.sh: exit ${rc} in $(( $(date +%s) - t0 ))s"
exit "$rc"
