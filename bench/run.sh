#!/usr/bin/env bash
# The benchmark command: bash bench/run.sh [--quick] [--keep] [--no-profile]
#
# Finds Python and Odoo 19 exactly as scripts/test.sh and scripts/up.sh do (through
# scripts/lib.sh), makes sure the load generator (wrk) is there, then hands over to
# bench/run.py, which creates a fresh database, starts a real Odoo server (2 workers,
# queue_job runner) on 127.0.0.1, measures, and writes bench/results/.
#
# Environment: MFG_PYTHON, MFG_VENV and PGHOST/PGPORT/PGUSER/PGPASSWORD as for
# scripts/test.sh; MFG_BENCH_NO_WRK=1 forces the Python load generator.
set -uo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

mfg_pick_python
mfg_probe_odoo
if [[ $MFG_ODOO_OK != 1 ]]; then
    mfg_die "the benchmark needs Odoo 19: $MFG_ODOO_WHY" \
        "Run bash scripts/up.sh first, or set MFG_PYTHON to an interpreter where Odoo 19 is importable."
fi
if [[ -z $MFG_QUEUE_JOB_PARENT ]]; then
    mfg_die "the queue_job addon is not installed for $MFG_PY" \
        "Run bash scripts/up.sh (it installs requirements.txt, which holds odoo-addon-queue_job)."
fi
if ! mfg_pg_reachable; then
    mfg_pg_start >/dev/null 2>&1 || true
    mfg_pg_reachable || mfg_die "$MFG_PG_WHY"
fi

# wrk is the load generator of every HTTP measurement; install it when we can.
if [[ -z ${MFG_BENCH_NO_WRK:-} ]] && ! command -v wrk >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        mfg_info "installing wrk (apt-get)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } \
            >/dev/null 2>&1 || mfg_warn "could not install wrk"
    fi
    command -v wrk >/dev/null 2>&1 ||
        mfg_warn "wrk is not installed: the Python load generator is used instead (slower, its figures are lower)"
fi
command -v pgbench >/dev/null 2>&1 ||
    mfg_warn "pgbench is not installed (Debian: postgresql-client): the raw INSERT figure will be missing"

# Everything run.py needs from lib.sh, so that the lookup lives in one place.
MFG_BENCH_ODOO_CMD=$(printf '%q ' "${MFG_ODOO_CMD[@]}")
MFG_BENCH_ADDONS_PATH=$(mfg_addons_path)
MFG_BENCH_FERNET_KEY=$(mfg_fernet_key) || mfg_die "cannot generate a Fernet key (is cryptography installed?)"
MFG_BENCH_HTTP_PORT=$(mfg_free_port)
MFG_BENCH_GEVENT_PORT=$(mfg_free_port)
while [[ $MFG_BENCH_GEVENT_PORT == "$MFG_BENCH_HTTP_PORT" ]]; do
    MFG_BENCH_GEVENT_PORT=$(mfg_free_port)
done
export MFG_BENCH_ODOO_CMD MFG_BENCH_ADDONS_PATH MFG_BENCH_FERNET_KEY
export MFG_BENCH_HTTP_PORT MFG_BENCH_GEVENT_PORT
export MFG_BENCH_PY_FROM=$MFG_PY_FROM

# The repository's pure package, also when it is not pip-installed.
export PYTHONPATH=$MFG_ROOT${PYTHONPATH:+:$PYTHONPATH}
exec "$MFG_PY" "$BENCH_DIR/run.py" "$@"
