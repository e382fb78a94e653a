"""Packaging metadata agrees with itself: META.json (PGXN meta spec 1.0.0) has the spec's
required keys, and its versions match the control file and the installed SQL script."""

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIRED = {"name", "abstract", "maintainer", "version", "license", "provides", "meta-spec"}
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def test_meta_json_follows_the_pgxn_spec_and_matches_the_control_file():
    meta = json.loads((REPO / "META.json").read_text())
    assert REQUIRED <= meta.keys()
    assert meta["meta-spec"]["version"] == "1.0.0"
    assert SEMVER.match(meta["version"])
    control = (REPO / "bottledwater.control").read_text()
    default_version = re.search(r"default_version\s*=\s*'([^']+)'", control).group(1)
    extension = meta["provides"]["bottledwater"]
    assert extension["version"] == default_version == meta["version"]
    assert (REPO / extension["file"]).is_file()
    assert extension["file"] == f"sql/bottledwater--{default_version}.sql"
