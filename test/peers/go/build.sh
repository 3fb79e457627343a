#!/usr/bin/env bash
# Builds alertfence's Go-built test peers from the Go module proxy into
#   ${ALERTFENCE_CACHE:-$HOME/.cache/alertfence}/bin/
# Idempotent: a binary is rebuilt only when its stamp (sha256 of the recipe line,
# `go version`, GOOS/GOARCH and the recipe's go.mod/go.sum) changes.
#
# Usage: test/peers/go/build.sh [--force] [NAME...]   (default: all peers)
# Exit status is non-zero if a required peer fails; optional peers that the proxy
# does not serve are reported as "unavailable", other optional failures as
# "FAILED ... optional"; neither fails the run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${ALERTFENCE_CACHE:-$HOME/.cache/alertfence}
bin=$cache/bin
stamps=$bin/.stamps
mkdir -p "$bin" "$stamps"

export CGO_ENABLED=0 GOWORK=off

# --- pins -------------------------------------------------------------------
k8s_version=v1.33.13
k8s_date=2026-06-11T16:59:07Z # release time of k8s.io/kubernetes@v1.33.13 on the proxy (.info)
etcd_version=v3.5.24
kwok_version=v0.7.0
ksm_version=v2.20.0
ksm_date=20260818-08:23:36 # release time of kube-state-metrics v2.20.0 on the proxy (.info)
ksm_client_go=v0.36.3
# Commits have no semver tags, so these are Go pseudo-versions of the pinned commits. The proxy serves the
# emulator at this pseudo-version only (not the older ones, not the v1.x tags).
rie_version=v0.0.0-20261030222936-bef5c4ba774d
ofw_version=v0.0.0-20260513144341-9bdadb1e8c68 # == of-watchdog tag 0.11.6

kv() { # ldflags that stamp the Kubernetes version like hack/lib/version.sh does
	local p out=""
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		out+=" -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=33"
		out+=" -X $p.gitTreeState=clean -X $p.buildDate=$k8s_date"
	done
	printf '%s' "$out"
}

# --- recipes ----------------------------------------------------------------
# name|source|package|extra ldflags|required|optional
#   source "mod:DIR"   -> go build inside test/peers/go/DIR (its go.mod/go.sum pin everything)
#   source "install"   -> GOBIN=... go install package@version (the module's own go.sum)
# Versions used in ldflags must match the modules' go.mod; checked below.
recipes=(
	"kube-apiserver|mod:k8s|k8s.io/kubernetes/cmd/kube-apiserver|$(kv)|required"
	"kube-controller-manager|mod:k8s|k8s.io/kubernetes/cmd/kube-controller-manager|$(kv)|required"
	"kube-scheduler|mod:k8s|k8s.io/kubernetes/cmd/kube-scheduler|$(kv)|required"
	"etcd|mod:etcd|go.etcd.io/etcd/server/v3||required"
	"kwok|install|sigs.k8s.io/kwok/cmd/kwok@$kwok_version||required"
	"kube-state-metrics|mod:ksm|k8s.io/kube-state-metrics/v2|-X github.com/prometheus/common/version.Version=${ksm_version#v} -X github.com/prometheus/common/version.Branch=release -X github.com/prometheus/common/version.BuildUser=alertfence -X github.com/prometheus/common/version.BuildDate=$ksm_date -X k8s.io/kube-state-metrics/v2/pkg/app.ClientGoVersion=$ksm_client_go|required"
	"aws-lambda-rie|install|github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$rie_version||required"
	"of-watchdog|install|github.com/openfaas/of-watchdog@$ofw_version|-X main.Version=0.11.6 -X main.GitCommit=9bdadb1e8c68ae1016ac1a35906cd2acaa53169a|optional"
)

pin_of() { awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$here/$1/go.mod"; }
while read -r dir mod ver; do
	if [[ $(pin_of "$dir" "$mod") != "$ver" ]]; then
		echo "build.sh: $dir/go.mod does not require $mod $ver; update the pins at the top of build.sh" >&2
		exit 2
	fi
done <<EOF
k8s k8s.io/kubernetes $k8s_version
etcd go.etcd.io/etcd/server/v3 $etcd_version
ksm k8s.io/kube-state-metrics/v2 $ksm_version
ksm k8s.io/client-go $ksm_client_go
EOF

force=0
want=()
for a in "$@"; do
	case $a in
	--force) force=1 ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	-*) echo "build.sh: unknown option $a" >&2; exit 2 ;;
	*) want+=("$a") ;;
	esac
done

for w in ${want[@]+"${want[@]}"}; do
	if ! printf '%s\n' "${recipes[@]}" | cut -d'|' -f1 | grep -qxF -- "$w"; then
		echo "build.sh: unknown peer '$w' (known: $(printf '%s\n' "${recipes[@]}" | cut -d'|' -f1 | tr '\n' ' '))" >&2
		exit 2
	fi
done

now_ms() { date +%s%3N; }
fmt_ms() { printf '%d.%01ds' $(($1 / 1000)) $(($1 % 1000 / 100)); }

go_id=$(go version)
goos_arch=$(go env GOOS GOARCH | tr '\n' ' ')
t_start=$(now_ms)
failed=0
unavailable=()

for r in "${recipes[@]}"; do
	IFS='|' read -r name src pkg ldx need <<<"$r"
	if ((${#want[@]})) && [[ " ${want[*]} " != *" $name "* ]]; then continue; fi

	moddir=""
	if [[ $src == mod:* ]]; then moddir=$here/${src#mod:}; fi
	stamp=$( {
		printf '%s\n%s\n%s\n' "$r" "$go_id" "$goos_arch"
		if [[ -n $moddir ]]; then cat "$moddir/go.mod" "$moddir/go.sum"; fi
	} | sha256sum | cut -d' ' -f1)

	out=$bin/$name
	if ((!force)) && [[ -x $out && -f $stamps/$name && $(<"$stamps/$name") == "$stamp" ]]; then
		printf '%-24s up to date\n' "$name"
		continue
	fi

	t0=$(now_ms)
	log=$(mktemp)
	ldflags="-s -w${ldx:+ $ldx}"
	ok=1
	if [[ -n $moddir ]]; then
		(cd "$moddir" && go build -p 2 -trimpath -ldflags="$ldflags" -o "$out.tmp.$$" "$pkg") >"$log" 2>&1 || ok=0
	else
		gobin=$(mktemp -d)
		GOBIN=$gobin go install -p 2 -trimpath -ldflags="$ldflags" "$pkg" >"$log" 2>&1 || ok=0
		if ((ok)); then
			mv "$gobin"/* "$out.tmp.$$" # exactly one binary per recipe
		fi
		rm -rf "$gobin"
	fi
	dt=$(($(now_ms) - t0))

	if ((ok)); then
		mv -f "$out.tmp.$$" "$out"
		printf '%s\n' "$stamp" >"$stamps/$name"
		printf '%-24s built in %s (%s MiB)\n' "$name" "$(fmt_ms "$dt")" "$(($(stat -c %s "$out") / 1048576))"
	elif [[ $need == optional ]] && grep -q 'This module version is not available\|403 Forbidden\|404 Not Found' "$log"; then
		rm -f "$out.tmp.$$"
		printf '%-24s unavailable: %s is not served by the Go module proxy (skipped)\n' "$name" "$pkg"
		unavailable+=("$name")
	else
		rm -f "$out.tmp.$$"
		printf '%-24s FAILED after %s%s:\n' "$name" "$(fmt_ms "$dt")" "$([[ $need == optional ]] && echo ' (optional)')"
		tail -n 20 "$log" | sed 's/^/    /'
		if [[ $need == required ]]; then failed=1; fi
	fi
	rm -f "$log"
done

printf 'test peers in %s (total %s)%s\n' "$bin" "$(fmt_ms $(($(now_ms) - t_start)))" \
	"${unavailable[*]:+; unavailable: ${unavailable[*]}}"
exit "$failed"
