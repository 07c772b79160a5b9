"""A probe started under a label whose output already exists (an experiment run again on the
same testbed, as the CLI's `experiment NAME` twice) writes beside it, never over it."""

from types import SimpleNamespace

import pytest

from experiments.probes import HttpsProbe


class Started(Exception):
    pass


def test_a_second_run_with_the_same_label_gets_its_own_files(tmp_path):
    def start(name, argv, node, log):
        raise Started(name, argv[argv.index("--out") + 1], str(log))

    site = SimpleNamespace(vip="10.0.1.100", tls_ca=tmp_path / "ca.pem",
                           services=SimpleNamespace(server_name="www", ports=SimpleNamespace(https=443)))
    testbed = SimpleNamespace(site=site, run_dir=SimpleNamespace(path=tmp_path), net={"client1": None},
                              processes=SimpleNamespace(start=start))
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "lb-failover-0.csv").write_text("first run\n")
    (tmp_path / "probes" / "lb-failover-0.2.csv").write_text("second run\n")
    with pytest.raises(Started) as started:
        HttpsProbe(testbed, "client1", label="lb-failover-0").start()
    name, out, log = started.value.args
    assert name == "probe-lb-failover-0.3" and out.endswith("probes/lb-failover-0.3.csv") and log.endswith(".3.log")
    assert (tmp_path / "probes" / "lb-failover-0.csv").read_text() == "first run\n"
