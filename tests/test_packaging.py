"""`pip install .` installs exactly the project's own packages, with the builders' fixture trees."""

import pathlib
import subprocess
import sys
import zipfile

REPO = pathlib.Path(__file__).parent.parent


def test_the_wheel_holds_only_the_two_packages_and_every_fixture_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("sarclip_jax-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/top_level.txt")))
    assert top_level.decode().split() == ["sarclip_jax", "tfds_sarclip"]
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"sarclip_jax",
                                                                                                 "tfds_sarclip"}
    fixtures = sorted(str(p.relative_to(REPO)) for p in (REPO / "tfds_sarclip").rglob("*")
                      if p.is_file() and "dummy_data" in p.parts and "__pycache__" not in p.parts)
    assert len(fixtures) > 50
    assert [f for f in fixtures if f not in set(names)] == []
