#!/usr/bin/env bash
# Set up and run the mfg_integration suite on this machine:
#   1. Odoo 19: use the one importable by the interpreter, or install it into .venv
#      from Odoo's official source (git clone of github.com/odoo/odoo, branch 19.0, or
#      the nightly source tarball of nightly.odoo.com);
#   2. this repository's Python requirements and package (pip install -e .);
#   3. PostgreSQL (a local cluster is started when it is down);
#   4. .local/odoo.conf (written once, kept afterwards);
#   5. the demo database with the suite's addons and demo data (created once);
#   6. the Odoo server in the foreground: http://127.0.0.1:8069, login admin / admin.
#
# Usage: bash scripts/up.sh          (stop the server with Ctrl-C)
# Environment:
#   MFG_PYTHON=<python>      an interpreter where Odoo 19 is importable (nothing is
#                            installed into Odoo then, only this suite's requirements)
#   MFG_VENV=<dir>           virtualenv to create/use when Odoo is installed (default .venv)
#   MFG_ODOO_SRC=<dir>       Odoo 19 source tree to use or clone into
#                            (default ~/.local/share/mfg-integration/odoo-19.0)
#   MFG_ODOO_GIT_URL, MFG_ODOO_TARBALL_URL   where Odoo 19 is fetched from
#   MFG_DB=<name>            demo database (default mfg_demo)
#   MFG_ADDONS=a,b           addons installed in a new database (default: the four suite addons)
#   MFG_HTTP_PORT=<port>     serve on this port instead of http_port of .local/odoo.conf
#   MFG_SKIP_PIP=1           do not run pip for this suite's requirements
#   MFG_UP_NO_SERVE=1        stop after the set-up instead of starting the server
#   PGHOST, PGPORT, PGUSER, PGPASSWORD   PostgreSQL connection
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd -- "$MFG_ROOT"

ODOO_SRC=${MFG_ODOO_SRC:-$HOME/.local/share/mfg-integration/odoo-19.0}
ODOO_GIT_URL=${MFG_ODOO_GIT_URL:-https://github.com/odoo/odoo.git}
ODOO_TARBALL_URL=${MFG_ODOO_TARBALL_URL:-https://nightly.odoo.com/19.0/nightly/src/odoo_19.0.latest.tar.gz}
ODOO_DEB_PACKAGES=(libldap2-dev libsasl2-dev libpq-dev)
DB=${MFG_DB:-mfg_demo}
LOCAL_DIR=$MFG_ROOT/.local
CONF=$LOCAL_DIR/odoo.conf
STAGING=

mfg_valid_db_name "$DB" || mfg_die "MFG_DB='$DB' is not a valid database name (letters, digits, _ . -)"
ADDONS=$(mfg_addon_list)

on_exit() {
    if [[ -n $STAGING && -e $STAGING ]]; then
        rm -rf -- "$STAGING" "$STAGING.tar.gz"
    fi
    mfg_remove_tmp
}
trap on_exit EXIT

# ---------------------------------------------------------------------------------------
# 1. Odoo 19

is_odoo19_source() {
    [[ -f $1/odoo/release.py && -f $1/requirements.txt ]] &&
        grep -Eq '^version_info = \(19, 0,' "$1/odoo/release.py"
}

how_to_provide_odoo() {
    printf '%s\n' \
        "Provide Odoo 19 yourself, then run 'bash scripts/up.sh' again:" \
        "  - clone it:  git clone --depth 1 --branch 19.0 https://github.com/odoo/odoo.git <dir>" \
        "    and set MFG_ODOO_SRC=<dir> (up.sh installs it into $MFG_VENV_DIR), or" \
        "  - set MFG_PYTHON to a Python interpreter where Odoo 19 is importable."
}

# download URL FILE
download() {
    if command -v curl >/dev/null 2>&1; then
        local progress=-sS
        [[ -t 2 ]] && progress=--progress-bar
        curl -fL "$progress" --retry 2 --connect-timeout 20 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q --tries=2 --timeout=20 -O "$2" "$1"
    else
        "$MFG_PY" -c 'import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=60) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)' "$1" "$2"
    fi
}

# fetch_odoo_source: make $ODOO_SRC an Odoo 19 source tree (git clone, else tarball).
fetch_odoo_source() {
    if is_odoo19_source "$ODOO_SRC"; then
        mfg_info "using the Odoo 19 source in $ODOO_SRC"
        return 0
    fi
    if [[ -e $ODOO_SRC && -n $(ls -A -- "$ODOO_SRC" 2>/dev/null) ]]; then
        mfg_die "$ODOO_SRC exists but is not an Odoo 19 source tree." \
            "Remove it, or set MFG_ODOO_SRC to another directory."
    fi
    mkdir -p -- "$(dirname -- "$ODOO_SRC")"
    STAGING=$ODOO_SRC.partial.$$
    rm -rf -- "$STAGING" "$STAGING.tar.gz"
    local got=0
    if command -v git >/dev/null 2>&1; then
        mfg_info "cloning Odoo 19 (git clone --depth 1 --branch 19.0 $ODOO_GIT_URL)"
        if GIT_TERMINAL_PROMPT=0 GIT_HTTP_LOW_SPEED_LIMIT=1000 GIT_HTTP_LOW_SPEED_TIME=60 \
            git clone --quiet --depth 1 --branch 19.0 -- "$ODOO_GIT_URL" "$STAGING"; then
            got=1
        else
            mfg_warn "git clone of $ODOO_GIT_URL failed"
            rm -rf -- "$STAGING"
        fi
    else
        mfg_warn "git is not installed"
    fi
    if [[ $got == 0 ]]; then
        mfg_info "downloading Odoo 19's nightly source tarball ($ODOO_TARBALL_URL)"
        mkdir -p -- "$STAGING"
        if download "$ODOO_TARBALL_URL" "$STAGING.tar.gz" &&
            tar -xzf "$STAGING.tar.gz" -C "$STAGING" --strip-components=1; then
            got=1
        else
            mfg_warn "download or unpacking of $ODOO_TARBALL_URL failed"
        fi
        rm -f -- "$STAGING.tar.gz"
    fi
    if [[ $got == 0 ]]; then
        local -a help=()
        mapfile -t help < <(how_to_provide_odoo)
        mfg_die "could not obtain Odoo 19: the git clone and the tarball download both failed." \
            "(git: $ODOO_GIT_URL, tarball: $ODOO_TARBALL_URL)" "${help[@]}"
    fi
    is_odoo19_source "$STAGING" ||
        mfg_die "what was downloaded is not an Odoo 19 source tree ($ODOO_GIT_URL / $ODOO_TARBALL_URL)"
    [[ -d $ODOO_SRC ]] && rmdir -- "$ODOO_SRC"
    mv -- "$STAGING" "$ODOO_SRC"
    STAGING=
    mfg_info "Odoo 19 source is in $ODOO_SRC"
}

# check_deb_packages: the C libraries some of Odoo's pinned requirements build against.
check_deb_packages() {
    command -v dpkg-query >/dev/null 2>&1 || {
        mfg_note "not a Debian-like system: make sure the LDAP, SASL and PostgreSQL client development headers are installed"
        return 0
    }
    local -a missing=()
    local pkg
    for pkg in "${ODOO_DEB_PACKAGES[@]}"; do
        if [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) != installed ]]; then
            missing+=("$pkg")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        mfg_info "apt-get install ${missing[*]}"
        if apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
            return 0
        fi
        mfg_warn "apt-get could not install ${missing[*]}; building Odoo's requirements may fail"
    else
        mfg_warn "Debian packages needed to build Odoo's requirements are missing. Run:"
        mfg_note "sudo apt-get install ${missing[*]}"
    fi
}

install_odoo() {
    if [[ -n ${MFG_PYTHON:-} ]]; then
        mfg_die "MFG_PYTHON=$MFG_PYTHON cannot run Odoo 19: $MFG_ODOO_WHY" \
            "Unset MFG_PYTHON to let up.sh install Odoo 19 into $MFG_VENV_DIR, or point it at an interpreter where Odoo 19 is importable."
    fi
    # An Odoo 19 source found by the interpreter (only its dependencies are missing) is
    # used as it is, unless MFG_ODOO_SRC names another one.
    if [[ -z ${MFG_ODOO_SRC:-} && -n $MFG_ODOO_SRC_DIR ]] && is_odoo19_source "$MFG_ODOO_SRC_DIR"; then
        ODOO_SRC=$MFG_ODOO_SRC_DIR
    fi
    fetch_odoo_source
    if [[ $MFG_PY != "$MFG_VENV_DIR"/bin/* ]]; then
        "$MFG_PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
            mfg_die "Odoo 19 needs Python 3.10 or later; $MFG_PY is older. Set MFG_PYTHON or install a newer python3."
        mfg_info "creating the virtualenv $MFG_VENV_DIR"
        "$MFG_PY" -m venv "$MFG_VENV_DIR" ||
            mfg_die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
        MFG_PY=$MFG_VENV_DIR/bin/python
    fi
    check_deb_packages
    mfg_info "installing Odoo 19's requirements into $MFG_PY (this takes a while)"
    mfg_pip install -q -r "$ODOO_SRC/requirements.txt" ||
        mfg_die "pip could not install Odoo's requirements ($ODOO_SRC/requirements.txt)."
    # editable_mode=compat: a plain path entry. The default "strict" finder of newer
    # setuptools puts a placeholder into odoo.addons.__path__, and Odoo then warns
    # "addons path is not a directory" on every start.
    mfg_pip install -q --no-deps -e "$ODOO_SRC" --config-settings editable_mode=compat ||
        mfg_die "pip install -e $ODOO_SRC failed."
}

mfg_pick_python
mfg_probe_odoo
if [[ $MFG_ODOO_OK != 1 ]]; then
    mfg_info "Odoo 19 is not usable with $MFG_PY: $MFG_ODOO_WHY"
    install_odoo
    mfg_probe_odoo
    [[ $MFG_ODOO_OK == 1 ]] || mfg_die "Odoo 19 is still not usable after its installation: $MFG_ODOO_WHY"
fi
mfg_info "Odoo 19: $MFG_ODOO_SRC_DIR (Python: $MFG_PY)"

# ---------------------------------------------------------------------------------------
# 2. This suite's requirements

if [[ ${MFG_SKIP_PIP:-0} == 1 ]]; then
    mfg_info "MFG_SKIP_PIP=1: not installing this suite's requirements"
else
    mfg_install_requirements editable || mfg_die "pip could not install requirements.txt (see its errors above)."
    mfg_probe_odoo
fi
[[ -n $MFG_QUEUE_JOB_PARENT ]] ||
    mfg_die "the queue_job addon is not installed with $MFG_PY (pip install 'odoo-addon-queue-job==19.0.*')"

# ---------------------------------------------------------------------------------------
# 3. PostgreSQL

if ! mfg_pg_reachable; then
    mfg_info "$MFG_PG_WHY"
    if mfg_pg_start && mfg_pg_reachable; then
        mfg_info "PostgreSQL started"
    else
        mfg_die "PostgreSQL is not reachable: ${MFG_PG_WHY:-could not start it}" \
            "Start it (Debian/Ubuntu: pg_ctlcluster --skip-systemctl-redirect <version> main start)," \
            "or set PGHOST/PGPORT/PGUSER/PGPASSWORD to a server where you may create databases."
    fi
fi

# ---------------------------------------------------------------------------------------
# 4. .local/odoo.conf

if [[ -f $CONF ]]; then
    mfg_info "keeping $CONF"
    conf_path=$(sed -nE 's/^[[:space:]]*addons_path[[:space:]]*=[[:space:]]*//p' "$CONF" | tail -n 1)
    for dir in "$MFG_ODOO_ADDONS_DIR" "$MFG_QUEUE_JOB_PARENT" "$MFG_ROOT/addons"; do
        if [[ -n $dir && ,$conf_path, != *",$dir,"* ]]; then
            mfg_warn "addons_path in $CONF lacks $dir (written for another interpreter?)."
            mfg_note "Expected: addons_path = $(mfg_addons_path)"
            mfg_note "Fix that line, or delete $CONF to have it written again."
            break
        fi
    done
else
    mkdir -p -- "$LOCAL_DIR/data"
    mfg_info "writing $CONF"
    key=$(mfg_fernet_key)
    umask_before=$(umask)
    umask 077
    cat >"$CONF" <<EOF
; Local Odoo configuration written once by scripts/up.sh (git-ignored; edit freely).
; odoo.conf.example documents every setting.
[options]
addons_path = $(mfg_addons_path)
db_name = $DB
data_dir = $LOCAL_DIR/data
admin_passwd = $(mfg_random_hex 16)
list_db = False
http_interface = 127.0.0.1
http_port = 8069
workers = 2
server_wide_modules = base,rpc,web,queue_job,mfg_integration_core
log_level = info

[queue_job]
channels = root:2

[mfg_integration]
secret_keys = $key
EOF
    umask "$umask_before"
fi

# ---------------------------------------------------------------------------------------
# 5. Demo database

db_state=0
mfg_db_exists "$DB" || db_state=$?
if [[ $db_state == 0 ]]; then
    mfg_info "database $DB exists: nothing installed or updated (to start over: dropdb $DB)"
elif [[ $db_state == 1 ]]; then
    install_log=$LOCAL_DIR/install-$DB.log
    mfg_info "creating database $DB with $ADDONS and demo data (log: $install_log)"
    rc=0
    "${MFG_ODOO_CMD[@]}" -c "$CONF" -d "$DB" -i "$ADDONS" --with-demo \
        --workers=0 --max-cron-threads=0 --stop-after-init --log-level=info \
        2>&1 | tee "$install_log" || rc=$?
    if [[ $rc != 0 ]] || grep -Eq '^[0-9-]+ [0-9:,]+ [0-9]+ CRITICAL ' "$install_log"; then
        mfg_dropdb "$DB" >/dev/null 2>&1 || true
        mfg_die "installing $ADDONS into $DB failed (log: $install_log); the database was dropped." \
            "An error raised inside addons/ is a bug of the addon, not of this script;" \
            "MFG_ADDONS=mail,queue_job bash scripts/up.sh checks the set-up without them."
    fi
    # base's data already sets the password of user admin to "admin"; nothing to change.
else
    mfg_die "cannot query PostgreSQL for database $DB"
fi

# ---------------------------------------------------------------------------------------
# 6. Server

port=$(sed -nE 's/^[[:space:]]*http_port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' "$CONF" | tail -n 1)
port=${port:-8069}
serve_args=()
if [[ -n ${MFG_HTTP_PORT:-} ]]; then
    [[ $MFG_HTTP_PORT =~ ^[0-9]+$ ]] || mfg_die "MFG_HTTP_PORT must be a port number"
    port=$MFG_HTTP_PORT
    serve_args=(--http-port="$port" --gevent-port="$((port + 3))")
fi

mfg_banner '=' \
    "mfg_integration is set up." \
    "" \
    "URL:       http://127.0.0.1:$port" \
    "Login:     admin      Password: admin" \
    "Database:  $DB" \
    "Config:    $CONF" \
    "Python:    $MFG_PY" \
    "" \
    "Stop the server with Ctrl-C."

if [[ ${MFG_UP_NO_SERVE:-0} == 1 ]]; then
    mfg_info "MFG_UP_NO_SERVE=1: not starting the server"
    exit 0
fi
if mfg_port_in_use "$port"; then
    mfg_die "port $port on 127.0.0.1 is already in use (another Odoo?)." \
        "Stop that server, or run with MFG_HTTP_PORT=<free port>."
fi
trap - EXIT
on_exit
exec "${MFG_ODOO_CMD[@]}" -c "$CONF" -d "$DB" ${serve_args[@]+"${serve_args[@]}"}
