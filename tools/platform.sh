# Which PostgreSQL and which Redis the scripts build for, run and test against. Sourced (bash) by
# tools/install-deps, test/run, examples/demo.sh and bench/lib/setup.sh, so each names them one way:
#
#   PG_MAJOR=17            the PostgreSQL major version to install and use (default: the one of the
#                          running Debian release, the `postgresql` package's)
#   PG_CONFIG=/path        its pg_config (default: PG_MAJOR's, else `pg_config` on PATH, which Debian
#                          points at the newest server headers installed)
#   REDIS_FLAVOR=valkey    redis (default) or valkey: the server and CLI programs and their packages
#   REDIS_SERVER, REDIS_CLI  the programs themselves (default: <flavour>-server, <flavour>-cli)
if [ -z "${PG_CONFIG:-}" ]; then
  PG_CONFIG=pg_config
  [ -z "${PG_MAJOR:-}" ] || PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
fi
REDIS_FLAVOR=${REDIS_FLAVOR:-redis}
case $REDIS_FLAVOR in
  redis|valkey) ;;
  *) echo "REDIS_FLAVOR is redis or valkey, not '$REDIS_FLAVOR'" >&2; exit 2 ;;
esac
REDIS_SERVER=${REDIS_SERVER:-$REDIS_FLAVOR-server}
REDIS_CLI=${REDIS_CLI:-$REDIS_FLAVOR-cli}
export PG_CONFIG REDIS_FLAVOR REDIS_SERVER REDIS_CLI
