#!/usr/bin/env bash
# Builds (once) the kube-apiserver and etcd binaries used by the end-to-end
# tests, from source fetched through the Go module proxy, and caches them by
# version:
#
#   ${LEASELOCKER_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leaselocker-e2e}/
#     kubernetes-vX.Y.Z/kube-apiserver
#     etcd-vA.B.C/etcd
#
# The last two lines on stdout are `KUBE_APISERVER=<path>` and `ETCD=<path>`
# (shell-quoted, so `eval "$(scripts/e2e/build-kube-binaries.sh)"` works).
# Progress and timings go to stderr. Requires `go` only when something has to
# be built; a run with both binaries cached returns immediately.
set -euo pipefail

# Pinned versions. Kubernetes: newest release the module proxy has that builds
# with the local Go. etcd: newest 3.6 patch release (supported by this
# kube-apiserver; built from go.etcd.io/etcd/server/v3, whose root package is
# etcd's main). Override only to try a bump.
KUBERNETES_VERSION="${LEASELOCKER_E2E_KUBERNETES_VERSION:-v1.37.2}"
ETCD_VERSION="${LEASELOCKER_E2E_ETCD_VERSION:-v3.6.16}"

CACHE_DIR="${LEASELOCKER_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leaselocker-e2e}"
[[ "$CACHE_DIR" == /* ]] || CACHE_DIR="$PWD/$CACHE_DIR" # builds cd elsewhere
KUBE_APISERVER_BIN="$CACHE_DIR/kubernetes-$KUBERNETES_VERSION/kube-apiserver"
ETCD_BIN="$CACHE_DIR/etcd-$ETCD_VERSION/etcd"

log() { printf '[build-kube-binaries] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

print_paths() {
  printf 'KUBE_APISERVER=%q\n' "$KUBE_APISERVER_BIN"
  printf 'ETCD=%q\n' "$ETCD_BIN"
}

if [[ -x "$KUBE_APISERVER_BIN" && -x "$ETCD_BIN" ]]; then
  print_paths
  exit 0
fi

command -v go >/dev/null 2>&1 ||
  die "'go' is not on PATH; Go >= 1.26 is needed to build kube-apiserver $KUBERNETES_VERSION and etcd $ETCD_VERSION (or set KUBE_APISERVER and ETCD to existing binaries)."

mkdir -p "$CACHE_DIR"
# Test files may run in parallel processes: serialise builds so only one Go
# build uses the CPU, and let late comers pick up the finished binaries.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_DIR/.build.lock"
  if ! flock -n 9; then
    log "another build holds $CACHE_DIR/.build.lock; waiting for it"
    flock 9
  fi
fi

WORK_DIRS=()
cleanup() { if ((${#WORK_DIRS[@]})); then rm -rf "${WORK_DIRS[@]}"; fi; }
trap cleanup EXIT

# Creates a fresh throwaway Go module outside any checkout (so neither this
# repository nor a surrounding go.work influences the build) and cds into it.
enter_work_module() {
  local dir
  dir="$(mktemp -d "$CACHE_DIR/.work-$1-XXXXXX")"
  WORK_DIRS+=("$dir")
  cd "$dir"
  GOWORK=off go mod init "leaselocker-e2e/$1" >/dev/null 2>&1 || die "go mod init failed in $dir"
}

# Builds main package $2 next to $1 under a temporary name, checks that its
# --version output contains $3, then moves it into place (atomic on one fs).
go_build_to() {
  local out="$1" pkg="$2" want="$3"
  shift 3
  mkdir -p "$(dirname "$out")"
  local tmp="$out.tmp.$$"
  WORK_DIRS+=("$tmp")
  GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$tmp" "$@" "$pkg" ||
    die "go build of $pkg failed (see the compiler output above)"
  local reported
  reported="$("$tmp" --version 2>&1 || true)"
  [[ "$reported" == *"$want"* ]] ||
    die "built $pkg does not report '$want' in --version: ${reported:0:300}"
  mv -f "$tmp" "$out"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fs", b - a }'; }

build_etcd() {
  local t0 t1 t2
  log "building etcd $ETCD_VERSION -> $ETCD_BIN"
  t0="$(now)"
  enter_work_module etcd
  GOWORK=off go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" ||
    die "could not fetch go.etcd.io/etcd/server/v3@$ETCD_VERSION through the Go module proxy"
  t1="$(now)"
  go_build_to "$ETCD_BIN" go.etcd.io/etcd/server/v3 "etcd Version: ${ETCD_VERSION#v}" -ldflags "-s -w"
  t2="$(now)"
  log "etcd $ETCD_VERSION: modules $(elapsed "$t0" "$t1"), compile $(elapsed "$t1" "$t2")"
}

build_kube_apiserver() {
  local t0 t1 t2 k8s_info k8s_mod staging_version go_directive minor build_date
  log "building kube-apiserver $KUBERNETES_VERSION -> $KUBE_APISERVER_BIN"
  t0="$(now)"
  enter_work_module kube-apiserver

  # k8s.io/kubernetes points its k8s.io/* staging modules at ./staging/src via
  # replace directives, which Go ignores outside the main module (that is why
  # `go install k8s.io/kubernetes/cmd/kube-apiserver@vX` fails). Re-create
  # them here with the published v0.X.Y tag of each staging module, taking
  # the module list from the release's own go.mod.
  k8s_info="$(GOWORK=off go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION")" ||
    die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION through the Go module proxy: $k8s_info"
  k8s_mod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$k8s_info")"
  [[ -f "$k8s_mod" ]] || die "go mod download did not report the go.mod of k8s.io/kubernetes@$KUBERNETES_VERSION"
  build_date="$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",\{0,1\}$/\1/p' <<<"$k8s_info")"
  build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$build_date" 2>/dev/null || true)"
  build_date="${build_date:-1970-01-01T00:00:00Z}"

  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  local replaces=()
  local module
  while read -r module; do
    replaces+=("-replace=$module=$module@$staging_version")
  done < <(awk '
    /^replace[[:space:]]*\(/ { in_block = 1; next }
    in_block && /^\)/ { in_block = 0; next }
    in_block && $2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }
    /^replace[[:space:]]/ && $3 == "=>" && $4 ~ /^\.\/staging\// { print $2 }
  ' "$k8s_mod")
  ((${#replaces[@]} > 0)) || die "found no ./staging replace directives in $k8s_mod"
  log "mapping ${#replaces[@]} staging modules to $staging_version"

  # Same language version and GODEBUG defaults as the upstream build.
  go_directive="$(awk '$1 == "go" { print $2; exit }' "$k8s_mod")"
  local godebugs=()
  local kv
  while read -r kv; do
    [[ -n "$kv" ]] && godebugs+=("-godebug=$kv")
  done < <(awk '
    /^godebug[[:space:]]*\(/ { in_block = 1; next }
    in_block && /^\)/ { in_block = 0; next }
    in_block && NF { print $1 }
    /^godebug[[:space:]]+[^(]/ { print $2 }
  ' "$k8s_mod")
  GOWORK=off go mod edit "-go=$go_directive" ${godebugs[@]+"${godebugs[@]}"} "${replaces[@]}"

  GOWORK=off go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" ||
    die "could not resolve the dependencies of k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION"
  t1="$(now)"

  # Mirrors upstream's hack/lib/golang.sh (release build): tags, stripped
  # binary, and the version stamps that /version and --version report.
  minor="${KUBERNETES_VERSION#v1.}"
  minor="${minor%%.*}"
  local ldflags="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION"
    ldflags+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    # A module zip carries no commit id; "archive" is upstream's tree state
    # for source that did not come from a git checkout.
    ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=archive"
    ldflags+=" -X $pkg.buildDate=$build_date"
  done
  go_build_to "$KUBE_APISERVER_BIN" k8s.io/kubernetes/cmd/kube-apiserver "Kubernetes $KUBERNETES_VERSION" \
    -tags selinux,notest,grpcnotrace -ldflags "$ldflags"
  t2="$(now)"
  log "kube-apiserver $KUBERNETES_VERSION: modules $(elapsed "$t0" "$t1"), compile $(elapsed "$t1" "$t2")"
}

T_START="$(now)"
if [[ ! -x "$ETCD_BIN" ]]; then build_etcd; fi
if [[ ! -x "$KUBE_APISERVER_BIN" ]]; then build_kube_apiserver; fi
log "done in $(elapsed "$T_START" "$(now)")"
print_paths
