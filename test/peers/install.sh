#!/usr/bin/env bash
# Installs the non-Go real test peers used by the integration tests:
#   - Alertmanager and amtool     Debian prometheus-alertmanager (ships its templates in /usr/share/prometheus/alertmanager/)
#   - Prometheus and promtool     Debian prometheus
#   - Keystone                    Debian python3-keystone; PyPI keystone in a venv if that does not work
#   - moto_server, cfn-lint, sam  PyPI, in the venv ${ALERTFENCE_CACHE:-$HOME/.cache/alertfence}/venv
#                                 (sam: aws-sam-cli, for `sam validate --lint` of infra/aws/template.yaml)
#   - sushy-emulator (Redfish)    PyPI sushy-tools, in the same venv
#   - fence_redfish               Debian fence-agents (the ClusterLabs agent the Redfish bench compares with)
#
# Idempotent: apt runs only when a binary is missing, pip only when the pinned versions change. apt and dpkg
# calls take /tmp/apt.lock (flock), so two installs on one machine never collide on dpkg's lock.
# Usage: bash test/peers/install.sh
set -euo pipefail

CACHE="${ALERTFENCE_CACHE:-$HOME/.cache/alertfence}"
VENV="$CACHE/venv"
KEYSTONE_VENV="$CACHE/keystone-venv"
# The system interpreter, not pyenv's: Debian's python3-keystone lives there, and a clean Debian machine
# has nothing else.
PYTHON=/usr/bin/python3
# Pinned so CI is reproducible; bump deliberately.
MOTO_REQ="${ALERTFENCE_MOTO_REQ:-moto[server]==5.2.5}"
CFN_LINT_REQ="${ALERTFENCE_CFN_LINT_REQ:-cfn-lint==1.58.0}"
# aws-sam-cli 1.170.0 accepts the cfn-lint and boto3 that moto pins (pip check is clean), so one venv holds all.
SAM_REQ="${ALERTFENCE_SAM_REQ:-aws-sam-cli==1.170.0}"
KEYSTONE_PYPI_REQ="${ALERTFENCE_KEYSTONE_PYPI_REQ:-keystone==30.0.0}"
SUSHY_REQ="${ALERTFENCE_SUSHY_REQ:-sushy-tools==2.2.0}"
# dpkg is shared with whatever else runs on the machine (other checkouts installing their peers): the whole apt
# step takes this lock (apt_install), so two never collide on the dpkg lock. Taken once: flock is not reentrant.
APT_LOCK="${ALERTFENCE_APT_LOCK:-/tmp/apt.lock}"

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

log() { printf 'install.sh: %s\n' "$*"; }

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  SUDO=(sudo -n)
fi

apt_updated=0
apt_install() {
  # The whole step under /tmp/apt.lock, the lock every apt/dpkg user on this machine takes (`flock
  # /tmp/apt.lock apt-get …`): the update, the install and the policy-rc.d that another install must not
  # remove half-way.
  local lock_fd
  exec {lock_fd}>>"$APT_LOCK"
  flock "$lock_fd"
  if [[ "$apt_updated" -eq 0 ]]; then
    log "apt-get update"
    "${SUDO[@]}" apt-get update -qq
    apt_updated=1
  fi
  # Keep maintainer scripts from starting prometheus/alertmanager services on the host: the tests start
  # their own instances on free ports. Only add the policy when the machine has none.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    added_policy=1
  fi
  # An install killed half-way (an interrupted CI run) leaves dpkg refusing every later one until its packages
  # are configured; finishing that is a no-op otherwise. Under the policy above, so no service starts.
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive dpkg --configure -a --force-confdef --force-confold </dev/null
  log "apt-get install $*"
  local rc=0
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null || rc=$?
  if [[ "$added_policy" -eq 1 ]]; then
    "${SUDO[@]}" rm -f "$policy"
  fi
  exec {lock_fd}>&-
  return "$rc"
}

# --- Debian packages ---------------------------------------------------------------------------------
missing=()
if [[ ! -x /usr/bin/prometheus-alertmanager || ! -x /usr/bin/amtool \
  || ! -d /usr/share/prometheus/alertmanager ]]; then
  missing+=(prometheus-alertmanager)
fi
if [[ ! -x /usr/bin/prometheus || ! -x /usr/bin/promtool ]]; then
  missing+=(prometheus)
fi
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
# The control-plane harness issues its per-run certificates with the openssl CLI.
if [[ ! -x /usr/bin/openssl ]]; then
  missing+=(openssl)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  apt_install "${missing[@]}"
else
  log "apt: prometheus-alertmanager, prometheus, python3-venv, openssl already present"
fi

# --- Keystone ----------------------------------------------------------------------------------------
# $1: bin directory, $2: the interpreter that owns it. Reading the package metadata is instant;
# keystone-manage --version takes seconds, so it only runs right after an install.
# Recent PyPI keystone (30.0.0 checked) no longer ships keystone-wsgi-public; test/peers/keystone.ts then serves
# keystone.server.wsgi with the standard library's wsgiref, as that script did.
keystone_present() {
  [[ -x "$1/keystone-manage" ]] && keystone_version "$2" >/dev/null 2>&1
}
keystone_version() { "$1" -c 'import importlib.metadata as m; print(m.version("keystone"))'; }
keystone_works() { "$1/keystone-manage" --version >/dev/null 2>&1; }

if keystone_present /usr/bin "$PYTHON"; then
  log "keystone: Debian python3-keystone already present"
elif keystone_present "$KEYSTONE_VENV/bin" "$KEYSTONE_VENV/bin/python"; then
  log "keystone: PyPI keystone already present in $KEYSTONE_VENV"
else
  if apt_install python3-keystone && keystone_works /usr/bin; then
    log "keystone: installed Debian python3-keystone"
  else
    log "keystone: Debian python3-keystone unusable, installing $KEYSTONE_PYPI_REQ into $KEYSTONE_VENV"
    "$PYTHON" -m venv "$KEYSTONE_VENV"
    "$KEYSTONE_VENV/bin/pip" install -q "$KEYSTONE_PYPI_REQ"
    keystone_works "$KEYSTONE_VENV/bin" || { log "keystone: PyPI install does not work either"; exit 1; }
  fi
fi

# --- Python venv: moto, cfn-lint and the SAM CLI -----------------------------------------------------
stamp="$VENV/.alertfence-requirements"
wanted="$MOTO_REQ $CFN_LINT_REQ $SAM_REQ"
if [[ -x "$VENV/bin/python" && -x "$VENV/bin/moto_server" && -x "$VENV/bin/cfn-lint" && -x "$VENV/bin/sam" \
  && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  log "venv: $wanted already present in $VENV"
else
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "venv: creating $VENV"
    mkdir -p "$CACHE"
    "$PYTHON" -m venv "$VENV"
  fi
  log "venv: pip install $wanted"
  "$VENV/bin/pip" install -q "$MOTO_REQ" "$CFN_LINT_REQ" "$SAM_REQ"
  printf '%s' "$wanted" >"$stamp"
fi

# --- Redfish: sushy-tools and fence_redfish --------------------------------------------------------
# sushy-emulator --fake serves DMTF Redfish with no libvirt; its own stamp, so a pin change reinstalls it
# alone. Its dependencies (Flask, Werkzeug, requests) are moto's too, at versions both accept.
sushy_stamp="$VENV/.alertfence-sushy"
if [[ -x "$VENV/bin/sushy-emulator" && -f "$sushy_stamp" && "$(cat "$sushy_stamp")" == "$SUSHY_REQ" ]]; then
  log "venv: $SUSHY_REQ already present in $VENV"
else
  log "venv: pip install $SUSHY_REQ"
  "$VENV/bin/pip" install -q "$SUSHY_REQ"
  printf '%s' "$SUSHY_REQ" >"$sushy_stamp"
fi
if [[ -x /usr/sbin/fence_redfish ]]; then
  log "apt: fence-agents already present"
else
  apt_install fence-agents
fi

# --- OpenStack (issue #15) ---------------------------------------------------------------------------
# Keystone's siblings as Debian library packages only (--no-install-recommends: the server packages pull in
# libvirt, qemu, LVM and uwsgi set-up), rabbitmq for their RPC, and the api-paste.ini files, which live in
# the *-common packages: taken out of the .deb, never installed. test/peers/openstack.ts starts them.
OPENSTACK_DIR="$CACHE/openstack"
openstack_missing=()
for pkg in python3-nova python3-placement python3-glance python3-cinder rabbitmq-server fence-agents; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || openstack_missing+=("$pkg")
done
if [[ ${#openstack_missing[@]} -gt 0 ]]; then
  apt_install "${openstack_missing[@]}"
else
  log "openstack: python3-nova, python3-placement, python3-glance, python3-cinder, rabbitmq-server, fence-agents already present"
fi
paste_dir="$OPENSTACK_DIR/paste"
if [[ -f "$paste_dir/nova-api-paste.ini" && -f "$paste_dir/cinder-api-paste.ini" \
  && -f "$paste_dir/glance-api-paste.ini" ]]; then
  log "openstack: api-paste.ini files already in $paste_dir"
else
  debs="$(mktemp -d)"
  (cd "$debs" && flock "$APT_LOCK" apt-get download -qq nova-common cinder-common glance-common 2>/dev/null)
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$debs/root"; done
  mkdir -p "$paste_dir"
  cp "$debs/root/usr/share/nova-common/api-paste.ini" "$paste_dir/nova-api-paste.ini"
  cp "$debs/root/usr/share/cinder-common/api-paste.ini" "$paste_dir/cinder-api-paste.ini"
  cp "$debs/root/usr/share/glance-common/glance-api-paste.ini" "$paste_dir/glance-api-paste.ini"
  rm -rf "$debs"
  log "openstack: api-paste.ini files extracted to $paste_dir"
fi

# fence_aws (bench/fence-agents.ts) needs a boto3 that honours AWS_ENDPOINT_URL_EC2 (botocore >= 1.31;
# Debian's is 1.29): a venv over the system packages (fence-agents' pycurl, pexpect, requests) with a newer one.
FENCE_VENV="$CACHE/fence-venv"
FENCE_BOTO3_REQ="${ALERTFENCE_FENCE_BOTO3_REQ:-boto3==1.43.108}"
if [[ -x "$FENCE_VENV/bin/python" && -f "$FENCE_VENV/.alertfence-requirements" \
  && "$(cat "$FENCE_VENV/.alertfence-requirements")" == "$FENCE_BOTO3_REQ" ]]; then
  log "fence-venv: $FENCE_BOTO3_REQ already present in $FENCE_VENV"
else
  "$PYTHON" -m venv --system-site-packages "$FENCE_VENV"
  "$FENCE_VENV/bin/pip" install -q "$FENCE_BOTO3_REQ"
  printf '%s' "$FENCE_BOTO3_REQ" >"$FENCE_VENV/.alertfence-requirements"
  log "fence-venv: installed $FENCE_BOTO3_REQ into $FENCE_VENV"
fi

# --- Summary -----------------------------------------------------------------------------------------
version_of() { "$@" 2>&1 | head -n 1; }
pip_version() { "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))"; }
log "alertmanager: $(version_of /usr/bin/prometheus-alertmanager --version)"
log "prometheus:   $(version_of /usr/bin/prometheus --version)"
if keystone_present /usr/bin "$PYTHON"; then
  log "keystone:     $(keystone_version "$PYTHON") (/usr/bin)"
else
  log "keystone:     $(keystone_version "$KEYSTONE_VENV/bin/python") ($KEYSTONE_VENV/bin)"
fi
log "moto:         $(pip_version moto) ($VENV/bin/moto_server)"
log "cfn-lint:     $(pip_version cfn-lint) ($VENV/bin/cfn-lint)"
log "sam:          $(pip_version aws-sam-cli) ($VENV/bin/sam)"
log "sushy-tools:  $(pip_version sushy-tools) ($VENV/bin/sushy-emulator)"
log "fence-agents: $(dpkg-query -W -f '${Version}' fence-agents) (/usr/sbin/fence_redfish)"
log "openstack:    nova $(dpkg-query -W -f='${Version}' python3-nova), cinder $(dpkg-query -W -f='${Version}' python3-cinder), rabbitmq $(dpkg-query -W -f='${Version}' rabbitmq-server)"
