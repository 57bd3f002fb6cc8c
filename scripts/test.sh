#!/usr/bin/env bash
# Run every test tier of mfg_integration:
#   lint          ruff check, ruff format --check, generated addon readmes up to date,
#                 pylint-odoo (.pylintrc-mandatory)
#   pure          pytest tests/pure (no Odoo needed)
#   odoo-install  install the addons, with demo data, in a throwaway database; any
#                 WARNING/ERROR/CRITICAL line in Odoo's log fails it
#   odoo-tests    pytest-odoo on addons/*/tests against that database (same log rule)
#   e2e           tests/e2e: a real Odoo server and queue_job runner on that database,
#                 driven over HTTP, fuzzing included (same log rule for the
#                 server's log)
#   faults        tests/e2e/faults: fault injection (kill -9 of every Odoo process,
#                 a PostgreSQL restart, a 50,000-event burst) on servers with
#                 workers; each scenario checks its servers' logs, allowing only the
#                 entries its fault causes
# The Odoo tiers run only when Odoo 19 is importable and PostgreSQL is reachable;
# otherwise they are skipped with a loud banner.
#
# The last line is "N passed, N failed[, N skipped]": pytest's test cases of all tiers,
# plus one failed case for each failed step that is not pytest (pip, lint, install, log).
#
# Usage: bash scripts/test.sh
# Environment:
#   MFG_PYTHON=<python>  interpreter (default: .venv/bin/python if present, else python3)
#   MFG_SKIP_PIP=1       do not install/refresh Python dependencies first
#   MFG_ADDONS=a,b       addons to install and test (default: the four suite addons)
#   MFG_KEEP_DB=1        keep the test database and its temporary directory
#   MFG_REQUIRE_ODOO=1   fail (instead of skip) when the Odoo tiers cannot run
#   MFG_FAULTS_BURST=<n> events in the fault tier's burst (default 50000; fewer for a
#                        quicker local run)
#   MFG_E2E_START_TIMEOUT=<s>  how long the e2e tier waits for its Odoo server to
#                        answer (default 600: a cold first start loads the registry)
#   PGHOST, PGPORT, PGUSER, PGPASSWORD  PostgreSQL connection
set -uo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd -- "$MFG_ROOT" || exit 1

TIER_NAMES=()
TIER_RESULTS=()
TIER_NOTES=()
TOTAL_PASSED=0
TOTAL_FAILED=0
TOTAL_SKIPPED=0
TEST_DB=
KEEP=${MFG_KEEP_DB:-0}

record() {  # record TIER RESULT NOTE
    TIER_NAMES+=("$1")
    TIER_RESULTS+=("$2")
    TIER_NOTES+=("$3")
}

# shellcheck disable=SC2329  # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $TEST_DB ]]; then
        if [[ $KEEP == 1 ]]; then
            mfg_info "MFG_KEEP_DB=1: kept database $TEST_DB and $MFG_TMP"
        elif ! mfg_dropdb "$TEST_DB" >/dev/null 2>&1; then
            mfg_warn "could not drop the test database $TEST_DB"
        fi
    fi
    if [[ $KEEP != 1 || -z $TEST_DB ]]; then
        mfg_remove_tmp
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# keep_log NAME FILE: copy a log of a failed step to .local/test-logs (git-ignored).
keep_log() {
    local dir=$MFG_ROOT/.local/test-logs
    mkdir -p -- "$dir" && cp -- "$2" "$dir/$1" && mfg_note "full log kept in $dir/$1"
}

# pytest_counts FILE: print "passed failed skipped" from pytest's final summary line
# (failed includes errors, skipped includes xfailed, passed includes xpassed).
pytest_counts() {
    "$MFG_PY" - "$1" <<'PY'
import re
import sys

with open(sys.argv[1], encoding="utf-8", errors="replace") as fh:
    text = re.sub(r"\x1b\[[0-9;]*m", "", fh.read())
word = r"(passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|subtests? \w+)"
summary = ""
for line in text.splitlines():
    if re.search(r" in \d+(\.\d+)?s\b", line) and (
        re.search(r"\d+ " + word, line) or "no tests ran" in line
    ):
        summary = line
counts = dict.fromkeys(("passed", "failed", "error", "skipped", "xfailed", "xpassed"), 0)
for number, key in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b", summary):
    counts["error" if key.startswith("error") else key] += int(number)
print(
    counts["passed"] + counts["xpassed"],
    counts["failed"] + counts["error"],
    counts["skipped"] + counts["xfailed"],
)
PY
}

# has_test_files DIR...: true when a pytest test module exists below one of the dirs.
has_test_files() {
    [[ $# -gt 0 ]] || return 1
    [[ -n $(find "$@" \( -name 'test_*.py' -o -name '*_test.py' \) -print -quit 2>/dev/null) ]]
}

# run_pytest TIER HAS_TESTS(0|1) COMMAND...: run pytest (its output stays visible),
# count its results, record the tier. Returns 0 when the tier did not fail.
run_pytest() {
    local tier=$1 has_tests=$2 out rc passed failed skipped
    shift 2
    out=$MFG_TMP/pytest-$tier.out
    mfg_info "$tier: $*"
    local -a color=()
    [[ -t 1 ]] && color=(--color=yes)  # pytest writes into a pipe (tee)
    "$@" ${color[@]+"${color[@]}"} 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    read -r passed failed skipped < <(pytest_counts "$out")
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    TOTAL_SKIPPED=$((TOTAL_SKIPPED + skipped))
    local counts="$passed passed, $failed failed, $skipped skipped"
    case $rc in
        0)
            record "$tier" passed "$counts"
            ;;
        5)
            if [[ $has_tests == 1 ]]; then
                record "$tier" failed "pytest collected no tests although the tier has test files"
                return 1
            fi
            mfg_note "$tier: this tier has no tests yet"
            record "$tier" "no tests" "no test files yet"
            ;;
        *)
            if [[ $failed -eq 0 ]]; then
                TOTAL_FAILED=$((TOTAL_FAILED + 1))
                counts="pytest exit code $rc (usage, collection or internal error)"
            fi
            record "$tier" failed "$counts"
            return 1
            ;;
    esac
}

# ---------------------------------------------------------------------------------------
# 1. Interpreter and Python dependencies

mfg_pick_python
mfg_make_tmp
mfg_info "Python: $MFG_PY ($MFG_PY_FROM)"
# Every tier, and the Odoo processes they start, import the mfg_integration package of
# this checkout (not an installed copy that may belong to another checkout).
export PYTHONPATH="$MFG_ROOT${PYTHONPATH:+:$PYTHONPATH}"
mfg_probe_odoo
# The package itself is installed (editable, from this checkout) only where it is
# missing, as in a new virtualenv: Odoo checks it by its metadata. An interpreter
# shared with another checkout keeps its install; PYTHONPATH above makes this
# checkout's code the one imported.
pip_mode=
mfg_package_installed || pip_mode=editable
if [[ ${MFG_SKIP_PIP:-0} == 1 ]]; then
    mfg_info "MFG_SKIP_PIP=1: not installing Python dependencies"
elif mfg_install_requirements ${pip_mode:+"$pip_mode"}; then
    mfg_probe_odoo  # queue_job may have just been installed
else
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
    record dependencies failed "pip install failed (see its errors above)"
fi

# ---------------------------------------------------------------------------------------
# 2. Lint tier

# ruff_run ARGS...: the interpreter's ruff (pinned in requirements.txt). In a
# virtualenv that sees the system's site-packages, `python -m ruff` finds the package
# there but looks for its binary in the virtualenv only: the binary installed with
# the package, in the base interpreter's scripts folder, is used then.
ruff_run() {
    if "$MFG_PY" -m ruff --version >/dev/null 2>&1; then
        "$MFG_PY" -m ruff "$@"
        return
    fi
    local binary
    binary=$("$MFG_PY" -c 'import os, sys, sysconfig
base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
print(os.path.join(sysconfig.get_path("scripts", vars=base), "ruff"))')
    if [[ -x $binary ]]; then
        "$binary" "$@"
    else
        mfg_warn "ruff is not installed for $MFG_PY (pip install -r requirements.txt)"
        return 1
    fi
}

run_lint() {
    local -a failed=() addons=() extra=()
    local manifest
    mfg_info "lint: ruff check ."
    ruff_run check . || failed+=("ruff check")
    mfg_info "lint: ruff format --check ."
    ruff_run format --check . || failed+=("ruff format")
    mfg_info "lint: addon readmes generated from readme/ fragments"
    "$MFG_PY" scripts/gen_addon_readmes.py --check || failed+=("addon readmes")
    for manifest in addons/*/__manifest__.py; do
        [[ -f $manifest ]] && addons+=("${manifest%/__manifest__.py}")
    done
    if [[ ${#addons[@]} -eq 0 ]]; then
        mfg_note "lint: no addon under addons/, pylint-odoo not run"
    else
        # astroid resolves `odoo.addons.<addon>` through sys.path only: give it a
        # directory odoo/addons/ with links to this repository's addons.
        local linkdir=$MFG_TMP/pylint-path addon
        mkdir -p -- "$linkdir/odoo/addons"
        for addon in "${addons[@]}"; do
            ln -sfn -- "$MFG_ROOT/$addon" "$linkdir/odoo/addons/${addon#addons/}"
        done
        if [[ $MFG_ODOO_OK != 1 ]]; then
            # Without Odoo, `from odoo import ...` cannot be resolved.
            extra=("--disable=import-error,no-name-in-module")
            mfg_note "lint: Odoo not importable, pylint runs with ${extra[*]}"
        fi
        mfg_info "lint: pylint --rcfile=.pylintrc-mandatory ${addons[*]}"
        if PYTHONPATH="$linkdir${PYTHONPATH:+:$PYTHONPATH}" "$MFG_PY" -m pylint \
            --rcfile=.pylintrc-mandatory ${extra[@]+"${extra[@]}"} "${addons[@]}"; then
            mfg_note "pylint-odoo: no message"
        else
            failed+=("pylint-odoo")
        fi
    fi
    if [[ ${#failed[@]} -eq 0 ]]; then
        local what="pylint-odoo on ${#addons[@]} addons"
        [[ ${#addons[@]} -eq 0 ]] && what="no addon for pylint-odoo"
        record lint passed "ruff check, ruff format --check, readmes, $what"
    else
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        local IFS=,
        record lint failed "findings from: ${failed[*]}"
    fi
}
run_lint

# ---------------------------------------------------------------------------------------
# Brokers: the broker tests of every tier skip themselves when theirs does not answer

mapfile -t missing_brokers < <(mfg_brokers_missing)
if [[ ${#missing_brokers[@]} -gt 0 ]]; then
    mfg_banner '!' "BROKER TESTS SKIPPED: ${missing_brokers[*]} not reachable on 127.0.0.1" "" \
        "The tests of the broker bridge (endpoints, feeds, the consumer) that need these brokers are skipped in every tier (see the skipped counts)." \
        "Start them (.ci/run starts installed ones), or install RabbitMQ, Mosquitto and NATS with JetStream."
fi

# ---------------------------------------------------------------------------------------
# 3. Pure tier

if [[ -d tests/pure ]]; then
    pure_has_tests=0
    has_test_files tests/pure && pure_has_tests=1
    # the AsyncAPI document is checked against the official schema (from npm)
    MFG_ASYNCAPI_SPECS=${MFG_ASYNCAPI_SPECS:-$(mfg_ensure_asyncapi_specs)}
    [[ -n $MFG_ASYNCAPI_SPECS ]] ||
        mfg_warn "@asyncapi/specs could not be installed (npm): the AsyncAPI checks of the pure tier are skipped (they fail under CI)"
    export MFG_ASYNCAPI_SPECS
    run_pytest pure "$pure_has_tests" \
        "$MFG_PY" -m pytest -p no:odoo -p no:cacheprovider tests/pure
else
    mfg_note "pure: tests/pure does not exist, this tier has no tests"
    record pure "no tests" "tests/pure does not exist"
fi

# ---------------------------------------------------------------------------------------
# 4. Odoo tiers

run_odoo_tiers() {
    local -a reasons=()
    if [[ $MFG_ODOO_OK != 1 ]]; then
        reasons+=("Odoo 19 missing: $MFG_ODOO_WHY."
            "Provide it with 'bash scripts/up.sh' (installs Odoo 19 into .venv), or set MFG_PYTHON to an interpreter where Odoo 19 is importable.")
    fi
    if ! mfg_pg_reachable; then
        reasons+=("PostgreSQL missing: $MFG_PG_WHY."
            "Start it (e.g. pg_ctlcluster --skip-systemctl-redirect <version> main start, or .ci/run does it), or point PGHOST/PGPORT/PGUSER/PGPASSWORD at a server.")
    fi
    if [[ ${#reasons[@]} -gt 0 ]]; then
        local why=${reasons[0]%%:*}
        [[ ${#reasons[@]} -gt 2 ]] && why="Odoo 19 and PostgreSQL missing"
        mfg_banner '!' "ODOO TIERS SKIPPED: $why" "" "${reasons[@]}" \
            "" "Only the lint and pure tiers ran."
        if [[ ${MFG_REQUIRE_ODOO:-0} == 1 ]]; then
            record odoo-install failed "$why (MFG_REQUIRE_ODOO=1)"
            record odoo-tests failed "$why (MFG_REQUIRE_ODOO=1)"
            record e2e failed "$why (MFG_REQUIRE_ODOO=1)"
            record faults failed "$why (MFG_REQUIRE_ODOO=1)"
        else
            record odoo-install skipped "$why"
            record odoo-tests skipped "$why"
            record e2e skipped "$why"
            record faults skipped "$why"
        fi
        return
    fi
    if [[ -z $MFG_QUEUE_JOB_PARENT ]]; then
        mfg_warn "the queue_job addon is not installed with $MFG_PY (pip install 'odoo-addon-queue-job==19.0.*')"
    fi

    local addons conf port key install_log tests_log rc
    addons=$(mfg_addon_list)
    TEST_DB=mfg_test_$$_$(mfg_random_hex 4)
    if mfg_db_exists "$TEST_DB"; then
        TEST_DB=
        record odoo-install failed "the random database name already exists"
        record odoo-tests skipped "the database was not installed"
        return
    fi
    port=$(mfg_free_port)
    key=$(mfg_fernet_key) || {
        record odoo-install failed "cannot generate a Fernet key (is cryptography installed?)"
        record odoo-tests skipped "the database was not installed"
        return
    }
    conf=$MFG_TMP/odoo.conf
    mkdir -p -- "$MFG_TMP/data"
    cat >"$conf" <<EOF
; Throwaway configuration written by scripts/test.sh
[options]
addons_path = $(mfg_addons_path)
db_name = $TEST_DB
data_dir = $MFG_TMP/data
admin_passwd = $(mfg_random_hex 16)
http_interface = 127.0.0.1
http_port = $port
log_level = info
with_demo = True

[mfg_integration]
secret_keys = $key
EOF

    # The database is created by Odoo itself (as createdb would, plus the pg_trgm
    # extension and the schema grant Odoo adds), then the addons are installed.
    install_log=$MFG_TMP/install.log
    mfg_info "odoo-install: ${MFG_ODOO_CMD[*]} -c $conf -d $TEST_DB -i $addons --stop-after-init --log-level=info"
    mfg_note "(Odoo's log goes to $install_log; it is checked for WARNING, ERROR and CRITICAL lines)"
    local started=$SECONDS
    "${MFG_ODOO_CMD[@]}" -c "$conf" -d "$TEST_DB" -i "$addons" \
        --stop-after-init --log-level=info >"$install_log" 2>&1
    rc=$?
    local install_failed=0 log_clean=1
    local note="$addons installed with demo data in $((SECONDS - started))s, log clean"
    mfg_check_log "$install_log" || log_clean=0
    if [[ $rc -ne 0 ]]; then
        install_failed=1
        note="Odoo exited with code $rc"
        mfg_note "odoo-install: Odoo exited with code $rc"
        if [[ $log_clean == 1 ]]; then
            mfg_note "end of its log:"
            tail -n 60 -- "$install_log" | sed 's/^/    | /'
        fi
    elif [[ $log_clean == 0 ]]; then
        install_failed=1
        note="warnings or errors in Odoo's install log"
    fi
    if [[ $install_failed == 1 ]]; then
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        keep_log "$TEST_DB-install.log" "$install_log"
        record odoo-install failed "$note"
        if [[ $rc -ne 0 ]]; then
            record odoo-tests skipped "the addons could not be installed"
            record e2e skipped "the addons could not be installed"
            record faults skipped "the addons could not be installed"
            return
        fi
    else
        mfg_note "odoo-install: $note"
        record odoo-install passed "$note"
    fi

    local -a test_dirs=()
    local addon
    for addon in ${addons//,/ }; do
        [[ -d addons/$addon/tests ]] && test_dirs+=("addons/$addon/tests")
    done
    if ! has_test_files ${test_dirs[@]+"${test_dirs[@]}"}; then
        mfg_note "odoo-tests: no test files in addons/{$addons}/tests, this tier has no tests"
        record odoo-tests "no tests" "no test files in the installed addons"
        return
    fi
    tests_log=$MFG_TMP/odoo-tests.log
    : >"$tests_log"
    local tests_ok=0
    # Odoo's log goes to a file that is checked afterwards. `-p no:warnings` leaves
    # Python warnings to Odoo's own handler, which logs them (py.warnings WARNING) as
    # under `odoo --test-enable`, so they fail the run too.
    #
    # No queue_job runner in this process. Importing the queue_job addon (pytest-odoo
    # loads the registry first) patches Odoo's ThreadedServer.start, so the HTTP server
    # that --odoo-http starts in the pytest process would also start a job runner thread
    # on the test database. That runner would dispatch, over HTTP, the jobs that tests
    # commit (test_concurrency commits its ingestion) while those tests delete them
    # again, and queue_job then logs, depending on timing, "was requested to run job
    # ..., but it does not exist, or is not in state enqueued, ...". The tests run jobs
    # themselves (trap_jobs, the _job_* methods). A root channel of capacity 0 is
    # queue_job's own switch for "no runner" (jobrunner._is_runner_enabled); the
    # variable reaches this pytest process only, not the e2e server, which needs its
    # runner.
    # the browser tests (Odoo tours) need Chromium: Odoo skips them without it, which
    # CI does not accept
    if ! mfg_ensure_chromium; then
        if [[ -n ${CI:-} ]]; then
            record browser-tests failed "no Chromium could be installed: the tours cannot run"
        else
            mfg_warn "no Chromium could be installed: Odoo skips its browser tests (see the skipped count)"
        fi
    fi
    ODOO_QUEUE_JOB_CHANNELS=root:0 \
        run_pytest odoo-tests 1 "$MFG_PY" -m pytest -p odoo -p no:cacheprovider -p no:warnings \
            --odoo-config="$conf" --odoo-database="$TEST_DB" --odoo-http \
            --odoo-log-level=warn --odoo-extra="logfile=$tests_log" \
            "${test_dirs[@]}" && tests_ok=1
    check_tier_log odoo-tests "$tests_log" "$tests_ok"
    run_e2e "$conf"
}

# check_tier_log TIER LOG PASSED(0|1): a tier whose tests passed fails all the same
# when its Odoo log has a WARNING, ERROR or CRITICAL line.
check_tier_log() {
    mfg_info "$1: checking Odoo's log ($2)"
    if mfg_check_log "$2"; then
        mfg_note "$1: log clean"
        return
    fi
    keep_log "$TEST_DB-$1.log" "$2"
    if [[ $3 == 1 ]]; then
        TIER_RESULTS[-1]=failed
        TIER_NOTES[-1]="${TIER_NOTES[-1]}; but warnings or errors in Odoo's log"
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
    else
        TIER_NOTES[-1]="${TIER_NOTES[-1]}; and warnings or errors in Odoo's log"
    fi
}

# clear_job_queue DB: remove the jobs the earlier tiers left to run (committed by the
# install or by a test, in a state a runner picks up), saying which. The e2e server's
# job runner would otherwise start by running them, on a database where what they
# refer to may be gone, and its log (checked) would depend on what the earlier tiers
# happened to leave behind.
clear_job_queue() {
    local rows
    if ! rows=$(mfg_pg_sql "WITH gone AS (
            DELETE FROM queue_job
            WHERE state IN ('wait_dependencies', 'pending', 'enqueued', 'started')
            RETURNING state, channel, method_name)
        SELECT count(*), state, channel, method_name FROM gone
        GROUP BY state, channel, method_name ORDER BY 2, 3, 4" "$1"); then
        mfg_warn "e2e: could not clear the job queue of $1 (see the error above)"
        return
    fi
    [[ -z $rows ]] && return
    mfg_note "e2e: removed the jobs the earlier tiers left to run (count|state|channel|method):"
    printf '%s\n' "$rows" | sed 's/^/    | /'
}

# End-to-end tier: a real Odoo server with its queue_job runner on the test database,
# driven over HTTP by tests/e2e (which starts and stops the server itself).
run_e2e() {  # run_e2e CONF
    if ! has_test_files tests/e2e; then
        record e2e "no tests" "tests/e2e has no test files"
        return
    fi
    local server_log=$MFG_TMP/e2e-server.log e2e_ok=0 promtool
    : >"$server_log"
    clear_job_queue "$TEST_DB"
    promtool=${MFG_PROMTOOL:-$(mfg_ensure_promtool)}
    [[ -n $promtool ]] || mfg_warn "promtool could not be installed: the e2e tier skips its check of the metrics scrape"
    MFG_E2E_CONFIG=$1 MFG_E2E_DB=$TEST_DB MFG_E2E_LOG=$server_log \
        MFG_E2E_ODOO_CMD="${MFG_ODOO_CMD[*]}" MFG_PROMTOOL=$promtool \
        run_pytest e2e 1 "$MFG_PY" -m pytest -p no:odoo -p no:cacheprovider tests/e2e \
        --ignore=tests/e2e/faults && e2e_ok=1
    check_tier_log e2e "$server_log" "$e2e_ok"
    run_faults "$1"
}

# Fault tier: tests/e2e/faults, after the e2e tier (its PostgreSQL restart must not
# hit the e2e tier's server). Each scenario starts its own servers and checks their
# logs itself: the entries its fault causes are named there, any other fails it.
run_faults() {  # run_faults CONF
    if ! has_test_files tests/e2e/faults; then
        record faults "no tests" "tests/e2e/faults has no test files"
        return
    fi
    clear_job_queue "$TEST_DB"
    MFG_E2E_CONFIG=$1 MFG_E2E_DB=$TEST_DB MFG_E2E_LOG=$MFG_TMP/faults-e2e-server.log \
        MFG_E2E_ODOO_CMD="${MFG_ODOO_CMD[*]}" \
        run_pytest faults 1 "$MFG_PY" -m pytest -p no:odoo -p no:cacheprovider \
        tests/e2e/faults
}
run_odoo_tiers

# ---------------------------------------------------------------------------------------
# 5. Summary

status=0
printf '\n%s\n' "================================ mfg_integration test summary ================================"
for i in "${!TIER_NAMES[@]}"; do
    printf '  %-13s %-9s %s\n' "${TIER_NAMES[$i]}" "${TIER_RESULTS[$i]}" "${TIER_NOTES[$i]}"
    [[ ${TIER_RESULTS[$i]} == failed ]] && status=1
done
printf '%s\n' "=============================================================================================="
if [[ $status -ne 0 && $TOTAL_FAILED -eq 0 ]]; then
    TOTAL_FAILED=1  # never print "0 failed" for a failed run
fi
summary="$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[[ $TOTAL_SKIPPED -gt 0 ]] && summary+=", $TOTAL_SKIPPED skipped"
printf '%s\n' "$summary"
exit "$status"
