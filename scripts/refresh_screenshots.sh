#!/usr/bin/env bash
# Refresh the documentation's screenshots: run the suite's browser tests (Odoo tours
# on Chromium, addons/*/tests/test_tours.py) with MFG_SCREENSHOTS set, so that each
# journey keeps a picture of its last screen in its addon's
# static/description/screenshots/.
#
# Usage: bash scripts/refresh_screenshots.sh
# It needs what `bash scripts/up.sh` sets up: .local/odoo.conf and the demo database
# (MFG_DB, default mfg_demo). The tours run in test transactions that are rolled back:
# the database is left as it was. Only the HTTP port differs from .local/odoo.conf (a
# free one), so that a running demo server is no obstacle.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd -- "$MFG_ROOT"

DB=${MFG_DB:-mfg_demo}

[[ -f .local/odoo.conf ]] ||
    mfg_die "no .local/odoo.conf: run 'MFG_UP_NO_SERVE=1 bash scripts/up.sh' first"
mfg_pick_python
mfg_db_exists "$DB" || mfg_die "no database $DB: run 'MFG_UP_NO_SERVE=1 bash scripts/up.sh' first"
mfg_ensure_chromium || mfg_die "Chromium is needed (Debian packages chromium and chromium-driver)"

mfg_make_tmp
trap mfg_remove_tmp EXIT
conf=$MFG_TMP/odoo.conf
port=$(mfg_free_port)
sed -e "s/^http_port *=.*/http_port = $port/" -e '/^workers *=/d' .local/odoo.conf >"$conf"
tours=(addons/*/tests/test_tours.py)

mfg_info "browser tests on $DB: ${tours[*]}"
MFG_SCREENSHOTS=1 ODOO_QUEUE_JOB_CHANNELS=root:0 \
    "$MFG_PY" -m pytest -q -p odoo -p no:cacheprovider -p no:warnings \
    --odoo-config="$conf" --odoo-database="$DB" --odoo-http --odoo-log-level=warn \
    "${tours[@]}"
mfg_info "refreshed:"
ls -- addons/*/static/description/screenshots/*.png
