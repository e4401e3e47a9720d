# Source me (bash or zsh): `. scripts/use-node.sh`
#
# Puts the project's Node (the version in .nvmrc) first on PATH when the `node` on PATH is older
# than the floor in package.json's `engines` (22.12). The first time, it installs that Node from
# the npm registry (the `node-<os>-<arch>` package: the official binary, no install script) into
# .tools/node/ inside the repo (git-ignored); later calls only change PATH. Every process started
# from this shell then gets it: npm, npx, wrangler, and the scripts' children (they start
# `node` or process.execPath). Nothing is downloaded from anywhere but the npm registry.

__flashsale_use_node() {
  local root want have major minor os arch prefix
  if [ -n "${BASH_SOURCE:-}" ]; then root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  else root="$(cd "$(dirname "$1")/.." && pwd)"; fi
  want="$(tr -d ' \n\r' < "$root/.nvmrc")"
  prefix="$root/.tools/node"

  have="$(node --version 2>/dev/null || echo v0.0.0)"
  have="${have#v}"; major="${have%%.*}"; minor="${have#*.}"; minor="${minor%%.*}"
  if [ "$major" -gt 22 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 12 ]; }; then
    return 0 # the Node on PATH is recent enough
  fi

  if [ "$("$prefix/bin/node" --version 2>/dev/null)" != "v$want" ]; then
    case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "use-node: install Node $want yourself on $(uname -s)" >&2; return 1 ;; esac
    case "$(uname -m)" in x86_64|amd64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) echo "use-node: no Node package for $(uname -m)" >&2; return 1 ;; esac
    if ! command -v npm >/dev/null 2>&1; then echo "use-node: needs npm on PATH to fetch Node $want" >&2; return 1; fi
    echo "use-node: installing Node $want (node-$os-$arch from the npm registry) into .tools/node" >&2
    npm install --global --prefix "$prefix" --no-audit --no-fund --loglevel=error "node-$os-$arch@$want" >&2 || return 1
  fi
  export PATH="$prefix/bin:$PATH"
  hash -r 2>/dev/null || true
  echo "use-node: $(node --version) from .tools/node" >&2
}
__flashsale_use_node "${0}"
