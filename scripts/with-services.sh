#!/usr/bin/env bash
# Run a command with PostgreSQL and Redis on loopback when they are installed, so the test suite
# runs against the database and broker users deploy on. Without them it runs on SQLite (and
# tests that need Redis are skipped), and says so. Set DATABASE_URL / REDIS_URL to use your own.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var

start_postgres() {
  local pgbin version port
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$pgbin" ]; then
    echo "with-services: PostgreSQL is not installed; running on SQLite." >&2
    return
  fi
  version=$(basename "$(dirname "$pgbin")")
  if [ "$(id -u)" = 0 ]; then
    # Debian's cluster tools; initdb refuses to run as root.
    pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main"' | grep -q . || pg_createcluster "$version" main >/dev/null
    pg_ctlcluster "$version" main status >/dev/null 2>&1 || pg_ctlcluster "$version" main start
    port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
    su postgres -c "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='moderation'\"" | grep -q 1 \
      || su postgres -c "psql -p $port -qc \"CREATE ROLE moderation LOGIN PASSWORD 'moderation' CREATEDB\""
    su postgres -c "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='moderation'\"" | grep -q 1 \
      || su postgres -c "createdb -p $port -O moderation moderation"
    export DATABASE_URL="postgres://moderation:moderation@127.0.0.1:$port/moderation"
  else
    # A private cluster under var/, for a developer without root.
    port=5433
    [ -d var/pg ] || "$pgbin/initdb" -D var/pg -U moderation --auth=trust >/dev/null
    "$pgbin/pg_ctl" -D var/pg status >/dev/null 2>&1 \
      || "$pgbin/pg_ctl" -D var/pg -l var/pg.log -w -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
    "$pgbin/psql" -h 127.0.0.1 -p $port -U moderation -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='moderation'" \
      | grep -q 1 || "$pgbin/createdb" -h 127.0.0.1 -p $port -U moderation moderation
    export DATABASE_URL="postgres://moderation@127.0.0.1:$port/moderation"
  fi
  echo "with-services: PostgreSQL $version on 127.0.0.1:$port" >&2
}

start_redis() {
  if ! command -v redis-server >/dev/null; then
    echo "with-services: redis-server is not installed; tests that need a broker are skipped." >&2
    return
  fi
  local port=6390
  if ! redis-cli -p $port ping >/dev/null 2>&1; then
    redis-server --port $port --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
      --dir "$PWD/var" --logfile "$PWD/var/redis.log" >/dev/null
    for _ in $(seq 50); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export REDIS_URL="redis://127.0.0.1:$port/0"
  echo "with-services: Redis on 127.0.0.1:$port" >&2
}

[ -n "${DATABASE_URL:-}" ] || start_postgres
[ -n "${REDIS_URL:-}" ] || start_redis
exec "$@"
