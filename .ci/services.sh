# shellcheck shell=bash
# Real services for Tierdesk's test suite, started by .ci/run (or by hand:
# `source .ci/services.sh; start_postgres; ...; stop_all`).
#
# Every service runs on loopback with its state in one private temporary
# directory ($TIERDESK_SVC_DIR), is started by this file and stopped by PID in
# stop_all. Functions are idempotent: calling one twice reuses what is running.
# Recipes: shared/notes/services.md. Debian 12, root, no systemd.
#
# Exports (when the service is up):
#   TIERDESK_TEST_PG_URL   postgres://tierdesk:tierdesk@127.0.0.1:5432/tierdesk
#   REDIS_URL_FOR_TESTS    redis://127.0.0.1:6379/0
#   TIERDESK_TEST_SMTP_HOST/PORT  127.0.0.1 2525 (Postfix, relays the test domains to Dovecot)
#   TIERDESK_TEST_IMAP_HOST/PORT  127.0.0.1 1143 (Dovecot; users below, password "tierdesk")
#   TIERDESK_TEST_MAIL_DOMAINS    "tierdesk.test example.test"
#   TIERDESK_TEST_MAIL_USERS      "support@tierdesk.test agent@tierdesk.test customer@example.test"
#   TIERDESK_TEST_MAIL_PASSWORD   tierdesk
#   TIERDESK_CHROMIUM             /usr/bin/chromium

: "${TIERDESK_SVC_DIR:=}"
_SVC_APT_UPDATED=${_SVC_APT_UPDATED:-0}
_SVC_DIR_CREATED=0    # stop_all removes $TIERDESK_SVC_DIR only if we made it
_SVC_PG_DIR=""        # data dir of the PostgreSQL we started (empty: none)
_SVC_REDIS_PID=""     # pidfile of the Redis we started
_SVC_DOVECOT_PID=""   # pidfile of the Dovecot we started
_SVC_POSTFIX_DIR=""   # config dir of the Postfix we started

svc_log() { printf '[%s] %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*"; }
svc_warn() { svc_log "WARNING: $*" >&2; }

svc_state_dir() {
    if [[ -z "$TIERDESK_SVC_DIR" || ! -d "$TIERDESK_SVC_DIR" ]]; then
        TIERDESK_SVC_DIR=$(mktemp -d /tmp/tierdesk-svc.XXXXXX)
        _SVC_DIR_CREATED=1
        chmod 0755 "$TIERDESK_SVC_DIR"   # the postgres/nobody users must traverse it
        export TIERDESK_SVC_DIR
    fi
}

# port_open PORT: true when something accepts TCP on 127.0.0.1:PORT.
port_open() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# port_pids PORT: PIDs of processes listening on TCP PORT (may print nothing).
port_pids() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u; }

# wait_port_closed PORT SECONDS
wait_port_closed() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do port_open "$1" || return 0; sleep 0.1; done
    return 1
}
# wait_port_open PORT SECONDS
wait_port_open() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do port_open "$1" && return 0; sleep 0.1; done
    return 1
}

# pid_alive PID: running and not a zombie (a daemon's exit is reaped by init, late).
pid_alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat:0:1}" != Z ]]
}

# stop_pid PID [SIGNAL] [SECONDS]: signal one process, wait for it, then SIGKILL.
stop_pid() {
    local pid=$1 sig=${2:-TERM} secs=${3:-20} i
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    pid_alive "$pid" || return 0
    kill -"$sig" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
    svc_warn "PID $pid did not stop on SIG$sig within ${secs}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# apt_install PKG...: installs what is missing; `apt-get update` at most once.
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        svc_log "apt: already installed: $*"
        return 0
    fi
    local t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    if [[ "$_SVC_APT_UPDATED" != 1 ]]; then
        svc_log "apt-get update"
        apt-get -o DPkg::Lock::Timeout=300 update -qq </dev/null
        _SVC_APT_UPDATED=1
    fi
    svc_log "apt-get install ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
    svc_log "apt: installed ${missing[*]} in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- PostgreSQL
PG_BIN=${PG_BIN:-}   # default: the newest /usr/lib/postgresql/*/bin (15 on Debian 12)
: "${TIERDESK_PG_PORT:=5432}"

_pg_url() { echo "postgres://tierdesk:tierdesk@127.0.0.1:$1/tierdesk"; }
_pg_usable() { PGCONNECT_TIMEOUT=5 psql "$(_pg_url "$1")" -qAtX -c 'select 1' </dev/null >/dev/null 2>&1; }
_pg_free_port() {
    local p
    for p in $(seq "$1" $(($1 + 20))); do port_open "$p" || { echo "$p"; return 0; }; done
    return 1
}

install_postgres() { apt_install postgresql; }

start_postgres() {
    install_postgres
    svc_state_dir
    [[ -n "$PG_BIN" ]] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    local port=$TIERDESK_PG_PORT
    if [[ -n "$_SVC_PG_DIR" ]] && _pg_usable "$port"; then
        svc_log "PostgreSQL: already started by us on 127.0.0.1:$port"
    elif port_open "$port"; then
        # A server is there already: one a previous run or a developer left.
        if _pg_usable "$port"; then
            svc_log "PostgreSQL: reusing the server already on 127.0.0.1:$port (not ours: left running at exit)"
            export TIERDESK_TEST_PG_URL; TIERDESK_TEST_PG_URL=$(_pg_url "$port")
            return 0
        fi
        local pid comm stopped=0
        for pid in $(port_pids "$port"); do
            comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
            if [[ "$comm" == postgres* ]]; then
                svc_log "PostgreSQL: stopping the stale server on port $port (PID $pid, data $(readlink "/proc/$pid/cwd" 2>/dev/null || echo '?'))"
                stop_pid "$pid" INT 30   # SIGINT = fast shutdown
                stopped=1
            fi
        done
        if ((stopped)) && wait_port_closed "$port" 10; then
            :
        else
            local other
            other=$(_pg_free_port $((port + 1))) || { echo "no free port for PostgreSQL" >&2; return 1; }
            svc_warn "port $port is held by something else; starting PostgreSQL on $other instead"
            port=$other
        fi
    fi
    if [[ -z "$_SVC_PG_DIR" ]] || ! _pg_usable "$port"; then
        local dir=$TIERDESK_SVC_DIR/pg
        rm -rf "$dir"; mkdir -p "$dir"; chown postgres:postgres "$dir"; chmod 0700 "$dir"
        svc_log "PostgreSQL: initdb $dir"
        runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 \
            --locale=C.UTF-8 --no-sync </dev/null >"$TIERDESK_SVC_DIR/pg-initdb.log" 2>&1 \
            || { cat "$TIERDESK_SVC_DIR/pg-initdb.log" >&2; return 1; }
        svc_log "PostgreSQL: starting on 127.0.0.1:$port (fsync=off: tests only)"
        _SVC_PG_DIR=$dir/data
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start </dev/null >/dev/null 2>&1 || { cat "$dir/server.log" >&2; return 1; }
        local sql=(-h "$dir" -p "$port" -U postgres -d postgres -qX -v ON_ERROR_STOP=1)
        psql "${sql[@]}" -c "CREATE ROLE tierdesk LOGIN PASSWORD 'tierdesk' CREATEDB" </dev/null
        psql "${sql[@]}" -c "CREATE DATABASE tierdesk OWNER tierdesk" </dev/null
        _pg_usable "$port" || { echo "PostgreSQL started but tierdesk cannot connect" >&2; return 1; }
        svc_log "PostgreSQL: up, PID $(head -1 "$dir/data/postmaster.pid")"
    fi
    TIERDESK_PG_PORT=$port
    export TIERDESK_TEST_PG_URL; TIERDESK_TEST_PG_URL=$(_pg_url "$port")
}

stop_postgres() {
    [[ -n "$_SVC_PG_DIR" ]] || return 0
    local pid
    pid=$(head -1 "$_SVC_PG_DIR/postmaster.pid" 2>/dev/null || true)
    svc_log "PostgreSQL: stopping PID ${pid:-?}"
    stop_pid "$pid" INT 30
    _SVC_PG_DIR=""
}

# --------------------------------------------------------------------- Redis
start_redis() {
    apt_install redis-server
    svc_state_dir
    if port_open 6379; then
        if [[ "$(timeout 5 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]; then
            [[ -n "$_SVC_REDIS_PID" ]] || svc_log "Redis: reusing the server already on 127.0.0.1:6379 (not ours)"
            export REDIS_URL_FOR_TESTS=redis://127.0.0.1:6379/0
            return 0
        fi
        local pid
        for pid in $(port_pids 6379); do
            if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis* ]]; then
                svc_log "Redis: stopping the unusable server on 6379 (PID $pid)"
                stop_pid "$pid" TERM 20
            fi
        done
        wait_port_closed 6379 10 || { echo "port 6379 is held by something that is not Redis" >&2; return 1; }
    fi
    local dir=$TIERDESK_SVC_DIR/redis
    mkdir -p "$dir"
    svc_log "Redis: starting on 127.0.0.1:6379"
    redis-server --port 6379 --bind 127.0.0.1 --daemonize yes --pidfile "$dir/redis.pid" \
        --dir "$dir" --logfile "$dir/redis.log" --save '' --appendonly no </dev/null >/dev/null 2>&1
    _SVC_REDIS_PID=$dir/redis.pid
    local i
    for ((i = 0; i < 100; i++)); do
        [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]] && break
        sleep 0.1
    done
    ((i < 100)) || { cat "$dir/redis.log" >&2; return 1; }
    svc_log "Redis: up, PID $(cat "$dir/redis.pid")"
    export REDIS_URL_FOR_TESTS=redis://127.0.0.1:6379/0
}

stop_redis() {
    [[ -n "$_SVC_REDIS_PID" ]] || return 0
    local pid; pid=$(cat "$_SVC_REDIS_PID" 2>/dev/null || true)
    svc_log "Redis: stopping PID ${pid:-?}"
    stop_pid "$pid" TERM 20
    _SVC_REDIS_PID=""
}

# ---------------------------------------------------- Mail: Postfix + Dovecot
# SMTP 127.0.0.1:2525 (Postfix) relays the test domains over LMTP to Dovecot
# (127.0.0.1:2424), which serves them over IMAP on 127.0.0.1:1143.
TIERDESK_TEST_MAIL_DOMAINS="tierdesk.test example.test"
TIERDESK_TEST_MAIL_USERS="support@tierdesk.test agent@tierdesk.test customer@example.test"
TIERDESK_TEST_MAIL_PASSWORD=tierdesk

install_mail() {
    if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed'; then
        echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
        echo "postfix postfix/mailname string localhost" | debconf-set-selections
    fi
    apt_install postfix dovecot-imapd dovecot-lmtpd
}

_start_dovecot() {
    local dir=$TIERDESK_SVC_DIR/dovecot
    if [[ -n "$_SVC_DOVECOT_PID" ]] && port_open 1143 && port_open 2424; then return 0; fi
    local p
    for p in 1143 2424; do
        port_open "$p" && { echo "port $p is already in use; cannot start Dovecot" >&2; return 1; }
    done
    mkdir -p "$dir/base" "$dir/state" "$dir/mail"
    chown nobody:nogroup "$dir/mail"
    : >"$dir/passwd"
    local u
    for u in $TIERDESK_TEST_MAIL_USERS; do
        echo "$u:{PLAIN}$TIERDESK_TEST_MAIL_PASSWORD" >>"$dir/passwd"
    done
    chmod 0644 "$dir/passwd"
    cat >"$dir/dovecot.conf" <<CONF
base_dir = $dir/base
state_dir = $dir/state
instance_name = tierdesk-test
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
mail_location = maildir:$dir/mail/%d/%n
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$dir/mail/%d/%n allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = 1143
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = 2424
  }
  unix_listener lmtp {
    mode = 0600
  }
}
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
}
namespace inbox {
  inbox = yes
}
CONF
    svc_log "Dovecot: starting (IMAP 127.0.0.1:1143, LMTP 127.0.0.1:2424)"
    # The master keeps stderr open: never let it hold our pipes.
    dovecot -c "$dir/dovecot.conf" </dev/null >/dev/null 2>>"$dir/dovecot.stderr" \
        || { cat "$dir/dovecot.stderr" "$dir/dovecot.log" >&2 2>/dev/null; return 1; }
    _SVC_DOVECOT_PID=$dir/base/master.pid
    wait_port_open 1143 20 && wait_port_open 2424 20 \
        || { cat "$dir/dovecot.stderr" "$dir/dovecot.log" >&2 2>/dev/null; return 1; }
    svc_log "Dovecot: up, PID $(cat "$_SVC_DOVECOT_PID")"
}

_start_postfix() {
    local dir=$TIERDESK_SVC_DIR/postfix
    if [[ -n "$_SVC_POSTFIX_DIR" ]] && port_open 2525; then return 0; fi
    port_open 2525 && { echo "port 2525 is already in use; cannot start Postfix" >&2; return 1; }
    rm -rf "$dir"; mkdir -p "$dir"
    cp -a /etc/postfix "$dir/etc"
    rm -f "$dir/etc/makedefs.out"   # a symlink out of the directory: postfix check warns
    mkdir -p "$dir/queue" "$dir/data"
    chown postfix:postfix "$dir/data"
    local transport="" d
    for d in $TIERDESK_TEST_MAIL_DOMAINS; do transport+="$d=lmtp:inet:127.0.0.1:2424, "; done
    local c=(postconf -c "$dir/etc")
    "${c[@]}" -e \
        "queue_directory = $dir/queue" \
        "data_directory = $dir/data" \
        "maillog_file_prefixes = /var, /dev/stdout, $dir" \
        "maillog_file = $dir/postfix.log" \
        "myhostname = mail.tierdesk.test" \
        "mydestination =" \
        "inet_interfaces = 127.0.0.1" \
        "inet_protocols = ipv4" \
        "mynetworks = 127.0.0.0/8" \
        "relay_domains = ${TIERDESK_TEST_MAIL_DOMAINS// /, }" \
        "transport_maps = inline:{${transport%, }}" \
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
        "smtpd_tls_security_level = none" \
        "smtp_tls_security_level = none" \
        "alias_maps =" "alias_database =" \
        "recipient_delimiter = +" \
        "compatibility_level = 3.6"
    "${c[@]}" -F '*/*/chroot = n'
    "${c[@]}" -M# smtp/inet
    "${c[@]}" -M "2525/inet=2525 inet n - n - - smtpd"
    svc_log "Postfix: starting (SMTP 127.0.0.1:2525)"
    postfix -c "$dir/etc" start </dev/null >>"$dir/postfix-start.log" 2>&1 \
        || { cat "$dir/postfix-start.log" "$dir/postfix.log" >&2 2>/dev/null; return 1; }
    _SVC_POSTFIX_DIR=$dir
    wait_port_open 2525 20 || { cat "$dir/postfix-start.log" "$dir/postfix.log" >&2 2>/dev/null; return 1; }
    svc_log "Postfix: up, PID $(tr -d ' ' <"$dir/queue/pid/master.pid")"
}

start_mail() {
    install_mail
    svc_state_dir
    _start_dovecot
    _start_postfix
    export TIERDESK_TEST_SMTP_HOST=127.0.0.1 TIERDESK_TEST_SMTP_PORT=2525
    export TIERDESK_TEST_IMAP_HOST=127.0.0.1 TIERDESK_TEST_IMAP_PORT=1143
    export TIERDESK_TEST_MAIL_DOMAINS TIERDESK_TEST_MAIL_USERS TIERDESK_TEST_MAIL_PASSWORD
}

stop_mail() {
    local pid
    if [[ -n "$_SVC_POSTFIX_DIR" ]]; then
        pid=$(tr -d ' ' <"$_SVC_POSTFIX_DIR/queue/pid/master.pid" 2>/dev/null || true)
        svc_log "Postfix: stopping PID ${pid:-?}"
        stop_pid "$pid" TERM 20
        _SVC_POSTFIX_DIR=""
    fi
    if [[ -n "$_SVC_DOVECOT_PID" ]]; then
        pid=$(cat "$_SVC_DOVECOT_PID" 2>/dev/null || true)
        svc_log "Dovecot: stopping PID ${pid:-?}"
        stop_pid "$pid" TERM 20
        _SVC_DOVECOT_PID=""
    fi
}

# ------------------------------------------------------------------ Chromium
# Debian's Chromium for Playwright (launch with executable_path=$TIERDESK_CHROMIUM;
# no `playwright install`: it downloads a browser and fails here). As root,
# Chromium needs --no-sandbox.
install_chromium() {
    apt_install chromium fonts-liberation
    export TIERDESK_CHROMIUM=/usr/bin/chromium
    svc_log "Chromium: $("$TIERDESK_CHROMIUM" --version 2>/dev/null </dev/null || echo '?')"
}

# ---------------------------------------------------------------------------
stop_all() {
    stop_mail || true
    stop_redis || true
    stop_postgres || true
    if [[ "$_SVC_DIR_CREATED" == 1 && -d "$TIERDESK_SVC_DIR" && "${TIERDESK_KEEP_SVC_DIR:-0}" != 1 ]]; then
        rm -rf "$TIERDESK_SVC_DIR"
        TIERDESK_SVC_DIR=""
        _SVC_DIR_CREATED=0
    fi
}
