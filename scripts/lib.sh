# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables set here are read by the calling scripts
# Functions shared by scripts/test.sh and scripts/up.sh. Source this file; it only
# defines functions and a few variables.
#
# Environment understood here (both scripts):
#   MFG_PYTHON   interpreter to use (default: $MFG_VENV/bin/python if present, else python3)
#   MFG_VENV     virtualenv directory (default: <repo>/.venv)
#   MFG_ADDONS   comma-separated addons to install (default: the four suite addons)
#   PGHOST, PGPORT, PGUSER, PGPASSWORD   PostgreSQL connection (libpq and Odoo read them)

MFG_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
MFG_DEFAULT_ADDONS=mfg_integration_core,mfg_integration_mes,mfg_integration_maintenance,mfg_integration_quality
MFG_VENV_DIR=${MFG_VENV:-$MFG_ROOT/.venv}
[[ $MFG_VENV_DIR == /* ]] || MFG_VENV_DIR=$PWD/$MFG_VENV_DIR
MFG_TMP=""

# ---------------------------------------------------------------------------------------
# Messages

mfg_info() { printf '==> %s\n' "$*"; }
mfg_note() { printf '    %s\n' "$*"; }
mfg_warn() { printf 'WARNING: %s\n' "$*" >&2; }

# mfg_die FIRST_LINE [MORE_LINES...]: print an error and exit 1.
mfg_die() {
    printf '\nERROR: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '       %s\n' "$line" >&2; done
    exit 1
}

# mfg_banner CHAR LINE...: a box of CHAR around the lines (long lines are wrapped).
mfg_banner() {
    local char=$1 width=78 border line part
    shift
    border=$(printf '%*s' "$width" '' | tr ' ' "$char")
    printf '\n%s\n%s\n' "$border" "$border"
    for line in "$@"; do
        if [[ -z $line ]]; then
            printf '%s%s  %-*s  %s%s\n' "$char" "$char" $((width - 8)) '' "$char" "$char"
            continue
        fi
        while IFS= read -r part; do
            printf '%s%s  %-*s  %s%s\n' "$char" "$char" $((width - 8)) "$part" "$char" "$char"
        done < <(printf '%s\n' "$line" | fold -s -w $((width - 8)))
    done
    printf '%s\n%s\n\n' "$border" "$border"
}

# ---------------------------------------------------------------------------------------
# Temporary directory of one run (removed by the calling script).

mfg_make_tmp() {
    if [[ -z $MFG_TMP ]]; then
        MFG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mfg_integration.XXXXXX") ||
            mfg_die "cannot create a temporary directory"
    fi
}

mfg_remove_tmp() {
    if [[ -n $MFG_TMP && -d $MFG_TMP ]]; then
        rm -rf -- "$MFG_TMP"
    fi
    MFG_TMP=
}

# ---------------------------------------------------------------------------------------
# Python interpreter and Odoo

# mfg_pick_python: set MFG_PY (absolute path of the interpreter) and MFG_PY_FROM.
mfg_pick_python() {
    local cand
    if [[ -n ${MFG_PYTHON:-} ]]; then
        cand=$MFG_PYTHON
        MFG_PY_FROM="MFG_PYTHON"
    elif [[ -x $MFG_VENV_DIR/bin/python ]]; then
        cand=$MFG_VENV_DIR/bin/python
        MFG_PY_FROM="virtualenv $MFG_VENV_DIR"
    else
        cand=python3
        MFG_PY_FROM="python3 on PATH"
    fi
    if ! command -v -- "$cand" >/dev/null 2>&1; then
        mfg_die "Python interpreter not found: $cand ($MFG_PY_FROM)" \
            "Install Python 3.10+ or set MFG_PYTHON to an interpreter."
    fi
    MFG_PY=$("$cand" -c 'import sys; print(sys.executable)') ||
        mfg_die "cannot run the Python interpreter $cand"
}

# mfg_probe_odoo: find out whether Odoo 19 is usable with $MFG_PY. Sets
#   MFG_ODOO_OK        1 when Odoo 19 and its dependencies import, else 0
#   MFG_ODOO_WHY       why not, when MFG_ODOO_OK=0
#   MFG_ODOO_SRC_DIR   parent directory of the odoo package (the Odoo source tree)
#   MFG_ODOO_REQS      <source>/requirements.txt, if present
#   MFG_ODOO_ADDONS_DIR  <source>/addons, if present
#   MFG_QUEUE_JOB_PARENT the directory holding the queue_job addon, if installed
#   MFG_ODOO_CMD       array: the command that runs Odoo (odoo-bin, or python -m odoo)
mfg_probe_odoo() {
    local out
    out=$("$MFG_PY" - <<'PY'
import os
import shlex
import sys


def emit(name, value):
    print(f"{name}={shlex.quote(str(value))}")


try:
    import odoo.release as release
except Exception as exc:  # noqa: BLE001 - any failure means "no Odoo"
    emit("MFG_ODOO_OK", 0)
    emit("MFG_ODOO_WHY", f"Odoo is not importable with {sys.executable} ({exc})")
    raise SystemExit(0) from None

pkg_dir = os.path.dirname(os.path.abspath(release.__file__))
src = os.path.dirname(pkg_dir)
emit("MFG_ODOO_SRC_DIR", src)
req = os.path.join(src, "requirements.txt")
emit("MFG_ODOO_REQS", req if os.path.isfile(req) else "")
addons = os.path.join(src, "addons")
emit("MFG_ODOO_ADDONS_DIR", addons if os.path.isdir(addons) else "")
odoo_bin = os.path.join(src, "odoo-bin")
emit("MFG_ODOO_BIN", odoo_bin if os.path.isfile(odoo_bin) else "")
if tuple(release.version_info[:2]) != (19, 0):
    emit("MFG_ODOO_OK", 0)
    emit("MFG_ODOO_WHY", f"{sys.executable} has Odoo {release.version} in {src}, not 19.0")
    raise SystemExit(0)
try:
    import odoo.addons
    import odoo.cli
    import odoo.http
    import odoo.service.server
    import psycopg2  # noqa: F401
except Exception as exc:  # noqa: BLE001
    emit("MFG_ODOO_OK", 0)
    emit(
        "MFG_ODOO_WHY",
        f"Odoo 19 is in {src} but its Python dependencies are missing ({exc})",
    )
    raise SystemExit(0) from None
parent = ""
for entry in odoo.addons.__path__:
    if os.path.isfile(os.path.join(entry, "queue_job", "__manifest__.py")):
        parent = os.path.abspath(entry)
        break
emit("MFG_QUEUE_JOB_PARENT", parent)
emit("MFG_ODOO_OK", 1)
emit("MFG_ODOO_WHY", "")
PY
) || mfg_die "cannot run $MFG_PY to look for Odoo"
    MFG_ODOO_OK=0 MFG_ODOO_WHY='' MFG_ODOO_SRC_DIR='' MFG_ODOO_REQS='' MFG_ODOO_ADDONS_DIR=''
    MFG_ODOO_BIN='' MFG_QUEUE_JOB_PARENT=''
    eval "$out"
    if [[ -n $MFG_ODOO_BIN ]]; then
        MFG_ODOO_CMD=("$MFG_PY" "$MFG_ODOO_BIN")
    else
        MFG_ODOO_CMD=("$MFG_PY" -m odoo)
    fi
}

# mfg_addons_path: print the addons_path for a configuration file: Odoo's addons, the
# directory of the installed queue_job addon, this repository's addons.
mfg_addons_path() {
    local -a dirs=()
    local d seen=,
    for d in "$MFG_ODOO_ADDONS_DIR" "$MFG_QUEUE_JOB_PARENT" "$MFG_ROOT/addons"; do
        [[ -n $d && -d $d ]] || continue
        [[ $seen == *",$d,"* ]] && continue
        seen+="$d,"
        dirs+=("$d")
    done
    local IFS=,
    printf '%s\n' "${dirs[*]}"
}

# mfg_addon_list: print MFG_ADDONS (or the default list), validated.
mfg_addon_list() {
    local addons=${MFG_ADDONS:-$MFG_DEFAULT_ADDONS}
    addons=${addons// /}
    if [[ ! $addons =~ ^[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*$ ]]; then
        mfg_die "MFG_ADDONS must be a comma-separated list of addon names, got '$addons'"
    fi
    printf '%s\n' "$addons"
}

mfg_fernet_key() {
    "$MFG_PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'
}

mfg_random_hex() {  # mfg_random_hex NBYTES
    "$MFG_PY" -c "import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))" "$1"
}

mfg_free_port() {
    "$MFG_PY" - <<'PY'
import socket

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1])
PY
}

# mfg_port_in_use PORT: true when something listens on 127.0.0.1:PORT.
mfg_port_in_use() {
    "$MFG_PY" - "$1" <<'PY'
import socket
import sys

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
    sock.settimeout(1)
    sys.exit(0 if sock.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}

# ---------------------------------------------------------------------------------------
# pip

# mfg_pip_constraints: export PIP_CONSTRAINT pointing at a file that caps setuptools
# below 70 (some sdists Odoo pins, e.g. cbor2 5.4.2, import pkg_resources when built;
# PIP_CONSTRAINT also reaches pip's build-isolation environments) and that keeps every
# constraint pip already had from PIP_CONSTRAINT or from its configuration files.
mfg_pip_constraints() {
    [[ -n ${MFG_PIP_CONSTRAINT_DONE:-} ]] && return 0
    mfg_make_tmp
    local file=$MFG_TMP/pip-constraints.txt src seen=' '
    local -a sources=()
    read -r -a sources <<<"${PIP_CONSTRAINT:-}"
    local line value
    local -a more=()
    while IFS= read -r line; do
        # lines look like: global.constraint='/etc/xdg/pip/constraints.txt'
        [[ $line == *.constraint=* ]] || continue
        value=${line#*=}
        value=${value//\'/}
        read -r -a more <<<"$value"
        sources+=("${more[@]}")
    done < <(PIP_CONSTRAINT='' "$MFG_PY" -m pip config list 2>/dev/null)
    sources+=(/etc/xdg/pip/constraints.txt)
    {
        printf '# written by scripts/lib.sh for one run\nsetuptools<70\n'
        for src in "${sources[@]}"; do
            src=${src#file://}
            [[ -f $src && $seen != *" $src "* ]] || continue
            seen+="$src "
            printf '# from %s\n' "$src"
            cat -- "$src"
            printf '\n'
        done
    } >"$file"
    export PIP_CONSTRAINT=$file
    MFG_PIP_CONSTRAINT_DONE=1
}

mfg_pip() {
    mfg_pip_constraints
    "$MFG_PY" -m pip --disable-pip-version-check "$@"
}

# mfg_package_installed: true when the mfg-integration distribution is installed for
# $MFG_PY (Odoo checks it, as the addons' external dependency, by its metadata).
mfg_package_installed() {
    "$MFG_PY" -c 'import importlib.metadata as m; m.version("mfg-integration")' \
        >/dev/null 2>&1
}

# mfg_install_requirements [editable]: our requirements.txt and, with "editable", this
# package (pip install -e). With Odoo 19, Odoo's requirements.txt is a constraints file
# so that no Odoo pin is upgraded; without Odoo, the odoo-addon-* lines are left out
# (they require odoo==19.0.*).
mfg_install_requirements() {
    mfg_make_tmp
    local -a cons=()
    local reqs=$MFG_ROOT/requirements.txt
    if [[ $MFG_ODOO_OK == 1 ]]; then
        if [[ -n $MFG_ODOO_REQS ]]; then
            cons=(-c "$MFG_ODOO_REQS")
        else
            mfg_warn "Odoo's requirements.txt not found in $MFG_ODOO_SRC_DIR: installing without its pins as constraints"
        fi
    else
        grep -vE '^[[:space:]]*odoo-addon-' "$reqs" >"$MFG_TMP/requirements-without-odoo.txt"
        reqs=$MFG_TMP/requirements-without-odoo.txt
    fi
    mfg_info "pip: requirements.txt${cons[*]:+ (constrained by ${MFG_ODOO_REQS})}${1:+ and pip install -e .}"
    mfg_pip install -q -r "$reqs" ${cons[@]+"${cons[@]}"} || return 1
    if [[ ${1:-} == editable ]]; then
        mfg_pip install -q -e "$MFG_ROOT" ${cons[@]+"${cons[@]}"} || return 1
    fi
}

# ---------------------------------------------------------------------------------------
# PostgreSQL (libpq settings come from PGHOST, PGPORT, PGUSER, PGPASSWORD)

# mfg_pg_sql SQL [DB]: run SQL, print rows (fields separated by '|').
mfg_pg_sql() {
    local sql=$1 db=${2:-postgres}
    if command -v psql >/dev/null 2>&1; then
        psql -X -q -w -v ON_ERROR_STOP=1 -tA -d "$db" -c "$sql"
    else
        "$MFG_PY" - "$db" "$sql" <<'PY'
import sys

import psycopg2

conn = psycopg2.connect(dbname=sys.argv[1])
conn.autocommit = True
with conn.cursor() as cr:
    cr.execute(sys.argv[2])
    if cr.description:
        for row in cr.fetchall():
            print("|".join(str(value) for value in row))
conn.close()
PY
    fi
}

# mfg_pg_reachable: true when a connection to the postgres database works; otherwise
# sets MFG_PG_WHY.
mfg_pg_reachable() {
    local err
    MFG_PG_WHY=
    if command -v psql >/dev/null 2>&1; then
        if err=$(psql -X -q -w -tA -d postgres -c 'select 1' 2>&1 >/dev/null); then
            return 0
        fi
        MFG_PG_WHY="PostgreSQL is not reachable ($(printf '%s' "$err" | head -n 1))"
        return 1
    fi
    if command -v pg_isready >/dev/null 2>&1; then
        if pg_isready -q -d postgres; then
            return 0
        fi
        MFG_PG_WHY="PostgreSQL is not reachable (pg_isready: $(pg_isready -d postgres 2>&1 | head -n 1))"
        return 1
    fi
    if err=$("$MFG_PY" -c 'import psycopg2; psycopg2.connect(dbname="postgres").close()' 2>&1); then
        return 0
    fi
    MFG_PG_WHY="PostgreSQL is not reachable, and neither psql nor pg_isready is installed ($(printf '%s' "$err" | tail -n 1))"
    return 1
}

mfg_pg_is_local() {
    local host=${PGHOST:-}
    [[ -z $host || $host == /* || $host == localhost || $host == 127.0.0.1 || $host == ::1 ]]
}

# mfg_pg_start: start the local Debian/Ubuntu clusters when PostgreSQL is down.
mfg_pg_start() {
    mfg_pg_is_local || return 1
    command -v pg_ctlcluster >/dev/null 2>&1 || return 1
    [[ -d /etc/postgresql ]] || return 1
    local version started=1
    for version in /etc/postgresql/*/; do
        version=$(basename -- "$version")
        [[ -d /etc/postgresql/$version/main ]] || continue
        mfg_info "starting PostgreSQL $version/main"
        if pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
            started=0
        fi
    done
    return $started
}

# ---------------------------------------------------------------------------------------
# Message brokers (the broker bridge's tests run against the real local ones)

MFG_BROKERS="amqp:5672 mqtt:1883 nats:4222"

# mfg_port_open PORT: true when something listens on 127.0.0.1:PORT
mfg_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# mfg_broker_start KIND: start a local broker that is installed but down (services of
# the machine, as root); true when the start command ran
mfg_broker_start() {
    case $1 in
    amqp)
        command -v rabbitmq-server >/dev/null 2>&1 || return 1
        if [[ -x /etc/init.d/rabbitmq-server ]]; then
            /etc/init.d/rabbitmq-server start >/dev/null 2>&1
        else
            rabbitmq-server -detached >/dev/null 2>&1
        fi
        ;;
    mqtt)
        command -v mosquitto >/dev/null 2>&1 || return 1
        if [[ -f /etc/mosquitto/mosquitto.conf ]]; then
            mosquitto -d -c /etc/mosquitto/mosquitto.conf
        else
            mosquitto -d
        fi
        ;;
    nats)
        command -v nats-server >/dev/null 2>&1 || return 1
        local store=/var/lib/nats-server
        mkdir -p -- "$store" 2>/dev/null || store=${TMPDIR:-/tmp}/nats-server
        nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "$store" >/dev/null 2>&1 &
        ;;
    *) return 1 ;;
    esac
}

# mfg_brokers_up: start the local brokers that are installed but down, and wait for
# them (a cold RabbitMQ takes a while: the wait is long, and ends as soon as it is up)
mfg_brokers_up() {
    local entry kind port waited
    for entry in $MFG_BROKERS; do
        kind=${entry%%:*} port=${entry##*:}
        mfg_port_open "$port" && continue
        mfg_broker_start "$kind" || continue
        mfg_info "started the local $kind broker (127.0.0.1:$port)"
        waited=0
        while ! mfg_port_open "$port" && [[ $waited -lt 300 ]]; do
            sleep 1
            waited=$((waited + 1))
        done
        mfg_port_open "$port" || mfg_warn "the $kind broker did not come up on 127.0.0.1:$port"
    done
}

# mfg_brokers_missing: print "kind:port" of each broker that does not answer
mfg_brokers_missing() {
    local entry
    for entry in $MFG_BROKERS; do
        mfg_port_open "${entry##*:}" || printf '%s\n' "$entry"
    done
}

mfg_valid_db_name() {
    [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]]
}

mfg_db_exists() {
    local found
    found=$(mfg_pg_sql "select 1 from pg_database where datname = '$1'") || return 2
    [[ $found == 1 ]]
}

mfg_dropdb() {
    if command -v dropdb >/dev/null 2>&1; then
        dropdb --if-exists "$1" 2>/dev/null || dropdb --if-exists --force "$1"
    else
        mfg_pg_sql "drop database if exists \"$1\" with (force)"
    fi
}

# ---------------------------------------------------------------------------------------
# Chromium, for Odoo's browser tests (HttpCase.browser_js)

# mfg_ensure_chromium: true when a Chromium or Chrome is on the PATH; when none is
# and apt-get works as root, install Debian's chromium and chromium-driver first.
mfg_ensure_chromium() {
    local browser
    for browser in chromium chromium-browser google-chrome google-chrome-stable; do
        command -v "$browser" >/dev/null 2>&1 && return 0
    done
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        mfg_info "apt-get install chromium chromium-driver (Odoo's browser tests)"
        { apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
            >/dev/null 2>&1
    fi
    command -v chromium >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------
# The official AsyncAPI 3.0 JSON Schema (npm package @asyncapi/specs), for the pure tier

MFG_ASYNCAPI_SPECS_VERSION=6.11.1

# mfg_ensure_asyncapi_specs: print the folder of @asyncapi/specs; when it is missing
# and npm works, install it under ~/.cache (not in the repository). Prints nothing
# when neither works.
mfg_ensure_asyncapi_specs() {
    local dir=${XDG_CACHE_HOME:-$HOME/.cache}/mfg-integration/asyncapi-$MFG_ASYNCAPI_SPECS_VERSION
    local package=$dir/node_modules/@asyncapi/specs
    if [[ ! -f $package/schemas/3.0.0.json ]] && command -v npm >/dev/null 2>&1; then
        mkdir -p "$dir" &&
            npm install --prefix "$dir" --no-save --no-audit --no-fund \
                --ignore-scripts "@asyncapi/specs@$MFG_ASYNCAPI_SPECS_VERSION" \
                >/dev/null 2>&1
    fi
    [[ -f $package/schemas/3.0.0.json ]] && printf '%s\n' "$package"
    return 0
}

# ---------------------------------------------------------------------------------------
# promtool (Prometheus' own checker of a scrape), for the e2e tier

# mfg_ensure_promtool: print the path of promtool; when it is missing and apt-get
# works, take it out of Debian's prometheus package (unpacked under ~/.cache, its
# server is neither installed nor started). Prints nothing when neither works.
mfg_ensure_promtool() {
    local dir=${XDG_CACHE_HOME:-$HOME/.cache}/mfg-integration/promtool work deb
    if command -v promtool >/dev/null 2>&1; then
        command -v promtool
        return
    fi
    if [[ -x $dir/usr/bin/promtool ]]; then
        printf '%s\n' "$dir/usr/bin/promtool"
        return
    fi
    command -v apt-get >/dev/null 2>&1 || return 0
    work=$(mktemp -d) || return 0
    if ( cd "$work" && { apt-get download prometheus >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 &&
              apt-get download prometheus >/dev/null 2>&1; }; } ); then
        deb=$(ls "$work"/prometheus_*.deb 2>/dev/null | head -n 1)
        mkdir -p "$dir" && [[ -n $deb ]] && dpkg-deb -x "$deb" "$dir" 2>/dev/null
    fi
    rm -rf -- "$work"
    [[ -x $dir/usr/bin/promtool ]] && printf '%s\n' "$dir/usr/bin/promtool"
    return 0
}

# ---------------------------------------------------------------------------------------
# Odoo logs

# mfg_check_log LOGFILE: print the log entries at level WARNING, ERROR or CRITICAL
# (with their traceback lines) that no regex of tests/log_allowlist.txt matches;
# return 1 when there is any.
mfg_check_log() {
    "$MFG_PY" "$MFG_ROOT/tests/logcheck.py" "$1" "$MFG_ROOT/tests/log_allowlist.txt"
}
