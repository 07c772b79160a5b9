"""--check's pure parts, and bad input through the real entry point: one line, exit 2, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

from hatestbed.check import Checked, in_own_namespace

REPO = Path(__file__).resolve().parents[2]


def test_each_checker_runs_in_a_namespace_of_its_own_with_the_hosts_interface_names():
    argv = in_own_namespace(["keepalived", "-t", "-f", "/x.conf"], ["lb1-eth0", "lb1-eth1"])
    assert argv[:3] == ["unshare", "--net", "sh"]
    assert "ip link add lb1-eth0 type veth peer name chk0 && ip link add lb1-eth1 type veth peer name chk1" in argv[4]
    assert argv[-4:] == ["keepalived", "-t", "-f", "/x.conf"]
    assert in_own_namespace(["true"], [])[4] == 'exec "$@"'


@pytest.mark.parametrize("argv, name", [
    (("haproxy", "-c", "-f", "/c"), "haproxy"),
    (("/venv/bin/python", "-m", "gunicorn", "--check-config"), "gunicorn"),
    (("sh", "-c", 'mkdir -p "$0" && exec "$@"', "/run/tmp", "nginx", "-p", "/p", "-t"), "nginx"),
])
def test_the_checker_is_named_by_its_program(argv, name):
    assert Checked("lb1-haproxy", argv, True, "").checker == name


@pytest.mark.parametrize("content, expected", [
    (bytes(range(128, 256)), "not a text file"),
    (b"name: [unclosed\n", "not valid YAML"),
    (b"colour: blue\n", "colour: unknown field"),
])
@pytest.mark.parametrize("mode", [["--check"], ["--list-faults"], ["--spof"], ["--smoke"]])
def test_bad_topology_files_get_one_line_and_exit_2_in_every_mode(tmp_path, content, expected, mode):
    path = tmp_path / "topology.yaml"
    path.write_bytes(content)
    run = subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), *mode, "--topology", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and expected in run.stderr and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"topo/run.py: error: {path}")


def test_a_galera_cluster_larger_than_seen_forming_gets_a_note_naming_the_setting():
    from hatestbed.check import design_notes
    from topo.model import load_topology
    from topo.scale import scaled_topology

    assert design_notes(load_topology()) == []
    assert design_notes(scaled_topology(load_topology(), 47, 16)) == []  # the base's 3 nodes
    [note] = design_notes(scaled_topology(load_topology(), 47, 16, db_nodes=48))
    assert note.startswith("services.mariadb.nodes: 48 Galera nodes") and "leave the list out" in note
    grown = scaled_topology(load_topology(), 47, 16, db_nodes=48)
    mariadb = grown.services.mariadb.model_copy(update={"mode": "async"})
    assert design_notes(grown.model_copy(update={"services": grown.services.model_copy(update={"mariadb": mariadb})})) == []


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    (bytes(range(128, 256)), "not a text file (byte 0 is not UTF-8)"),
    (b"status\n\x00", "not a text file (it holds NUL bytes)"),
    (b"status\n# fine\nclient1 ping -c 1 lb1\nstatsu\n", "line 4: unknown command 'statsu'"),
])
def test_a_script_that_cannot_run_is_refused_before_anything_starts(tmp_path, content, expected):
    path = tmp_path / "session.txt"
    if content is not None:
        path.write_bytes(content)
    run = subprocess.run([sys.executable, str(REPO / "topo" / "run.py"), "--script", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert run.stderr == f"topo/run.py: error: --script: {path}: {expected}" + run.stderr.split(expected, 1)[1]
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr and run.stdout == ""


def test_every_cli_command_and_node_name_is_known_to_the_script_check():
    from hatestbed.cli import unknown_script_command
    from topo.model import load_topology

    text = "status\nvip\nfaults\nfail link:s1-s2\nheal all\nlb1 ip addr\ns1 ovs-vsctl show\nc0 true\n!date\nhelp fail\n"
    assert unknown_script_command(text, load_topology()) is None
    assert unknown_script_command("status\n\nserver9 ls\n", load_topology()) == \
        "line 3: unknown command 'server9' (see `help` in the CLI)"
