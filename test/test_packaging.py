"""Packaging, as extension users install: META.json passes PGXN's own validator (pgxn_meta) and
agrees with the control file; `make dist` builds the PGXN distribution, and `pgxn install` of that
zip builds and installs it into a PostgreSQL where CREATE EXTENSION then works.

The install goes into a copy of the relocatable PostgreSQL 18 installation (the wheel's), so the
build under test elsewhere in the suite is left as it was."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from throwaway_cluster import throwaway_cluster

REPO = Path(__file__).resolve().parent.parent
BW_CACHE = Path(os.environ.get("BW_CACHE", "/var/cache/bottledwater"))
META = json.loads((REPO / "META.json").read_text())


def default_version():
    control = (REPO / "bottledwater.control").read_text()
    return re.search(r"default_version\s*=\s*'([^']+)'", control).group(1)


def postgresql_home(major):
    """BW_PG_HOME of scripts/postgresql-version.sh for that major."""
    return Path(subprocess.run(
        ["bash", "-c", 'source "$1"; echo "$BW_PG_HOME"', "_",
         REPO / "scripts" / "postgresql-version.sh"],
        env={**os.environ, "BW_PG": major, "BW_CACHE": str(BW_CACHE)},
        check=True, capture_output=True, text=True).stdout.strip())


def test_meta_json_passes_the_pgxn_validator():
    validator = BW_CACHE / "pgxn-meta" / "bin" / "pgxn_meta"
    checked = subprocess.run([validator, REPO / "META.json"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_meta_json_matches_the_control_file():
    extension = META["provides"]["bottledwater"]
    assert extension["version"] == default_version() == META["version"]
    assert extension["file"] == f"sql/bottledwater--{default_version()}.sql"
    assert (REPO / extension["file"]).is_file()


@pytest.fixture(scope="module")
def dist_zip():
    subprocess.run(["make", "-s", "dist"], cwd=REPO, check=True)
    return REPO / f"bottledwater-{META['version']}.zip"


def test_the_distribution_has_one_top_directory_named_for_the_release(dist_zip):
    with zipfile.ZipFile(dist_zip) as dist:
        names = dist.namelist()
    top = f"bottledwater-{META['version']}/"
    assert all(name.startswith(top) for name in names)
    assert {top + "META.json", top + "Makefile", top + "bottledwater.control"} <= set(names)


@pytest.fixture
def postgresql_copy():
    """A private copy of the PostgreSQL 18 installation, without bottledwater in it."""
    root = Path(tempfile.mkdtemp(prefix="bw-pgxn-"))
    os.chmod(root, 0o755)
    wheel = BW_CACHE / "postgresql-18"
    home = postgresql_home("18")
    shutil.copytree(wheel, root / wheel.name, symlinks=True)
    copy = root / wheel.name / home.relative_to(wheel)
    for installed in [*copy.glob("lib/bottledwater.so"), *copy.glob("share/extension/bottledwater*")]:
        installed.unlink()
    yield root, copy
    shutil.rmtree(root)


def test_pgxn_install_of_the_distribution_then_create_extension(dist_zip, postgresql_copy):
    root, home = postgresql_copy
    pgxn = Path(sys.executable).parent / "pgxn"
    installed = subprocess.run([pgxn, "install", "--make", "make", "--nosudo",
                                "--pg_config", home / "bin" / "pg_config", dist_zip],
                               cwd=root, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (home / "lib" / "bottledwater.so").is_file()

    with throwaway_cluster(home / "bin", "bw-pgxn-cluster-", "wal_level = logical\n"
                           "shared_preload_libraries = 'bottledwater'") as cluster:
        with cluster.connect() as conn:
            conn.execute("CREATE EXTENSION bottledwater")
            assert conn.execute("SELECT extversion FROM pg_extension "
                                "WHERE extname = 'bottledwater'").fetchone()[0] == META["version"]
            assert conn.execute("SELECT setting FROM pg_config "
                                "WHERE name = 'PKGLIBDIR'").fetchone()[0] == str(home / "lib")
            assert conn.execute("SELECT bw_version()").fetchone()[0] == META["version"]
