# Installs what Trail needs to build and test, skipping whatever is already
# there, and puts the tools on PATH. Sourced by scripts/run and scripts/test.
# Only package registries are used: crates.io, npm and Debian.

CARGO_LEPTOS_VERSION=0.3.10
SCHEMATHESIS_VERSION=4.32.5
CLOUDEVENTS_VERSION=2.2.0
RFC8785_VERSION=0.1.4
PYNACL_VERSION=1.6.2
STANDARDWEBHOOKS_VERSION=1.3.0
export PATH="$HOME/.cargo/bin:$PWD/scripts/tools/node_modules/.bin:$PATH"

say() { printf '\n== %s  (%s)\n' "$*" "$(date +%T)"; }

# The tools' own speed hardly matters, their compile time does: install them
# without LTO or optimisation, with many codegen units.
cheap_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_INCREMENTAL=false cargo install "$@"
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing system packages: $* (install them, or run as root)" >&2
    return 1
  fi
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The wasm-bindgen version in Cargo.lock: the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

setup_toolchain() {
  command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; return 1; }
  if ! rustup component list --installed | grep -q '^clippy' || ! rustup component list --installed | grep -q '^rustfmt'; then
    say "adding clippy and rustfmt"
    rustup component add clippy rustfmt
  fi
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# Compiles the release's dependencies (server and browser bundle) the way
# `cargo leptos build --release` does, so that it finds them built. Run in the
# background while the tools install: two jobs keep both cores busy where one
# alone waits on a single crate or a link.
prebuild_release() {
  local log=target/prebuild.log
  mkdir -p target
  {
    LEPTOS_OUTPUT_NAME=trail cargo build --release --package=trail --bin=trail \
      --no-default-features --features=ssr
    LEPTOS_OUTPUT_NAME=trail cargo build --package=trail --lib --target-dir=target/front \
      --target=wasm32-unknown-unknown --no-default-features --features=hydrate --profile=wasm-release
  } >"$log" 2>&1 || echo "(the early build stopped; cargo leptos will say why: $log)"
}

setup_build() {
  setup_toolchain
  if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (takes ~15 minutes once)"
    cheap_install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
  fi
  local wb
  wb=$(wasm_bindgen_version)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb" ]; then
    say "installing wasm-bindgen-cli $wb (takes ~3 minutes once)"
    # Not --locked: that version's own lockfile pins a crate the registry lacks.
    cheap_install wasm-bindgen-cli --version "$wb" --force
  fi
  if ! command -v npm >/dev/null; then
    say "installing Node.js and npm"
    apt_install nodejs npm
  fi
  if [ ! -x scripts/tools/node_modules/.bin/wasm-opt ]; then
    say "installing wasm-opt (binaryen, from npm)"
    (cd scripts/tools && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

setup_tests() {
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Chromium (Debian)"
    apt_install chromium
  fi
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    say "installing PostgreSQL (Debian)"
    apt_install postgresql
  fi
  if [ ! -d end2end/node_modules/playwright-core ]; then
    say "installing the browser-test packages"
    (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# Schemathesis, the official CloudEvents SDK, and for the independent check
# of record proofs an RFC 8785 implementation and PyNaCl (Ed25519), from
# PyPI, pinned, in a virtualenv under target/.
PYTHON_TOOLS="schemathesis==$SCHEMATHESIS_VERSION cloudevents==$CLOUDEVENTS_VERSION rfc8785==$RFC8785_VERSION pynacl==$PYNACL_VERSION standardwebhooks==$STANDARDWEBHOOKS_VERSION"
setup_python_tools() {
  local venv=target/venv
  if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$PYTHON_TOOLS" ]; then
    say "installing $PYTHON_TOOLS (PyPI, into $venv)"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $PYTHON_TOOLS
    echo "$PYTHON_TOOLS" >"$venv/.installed"
  fi
}
