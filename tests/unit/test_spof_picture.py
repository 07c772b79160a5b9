"""The SPOF picture's marks, without drawing: which components are red, orange or client-access
blue, and which links would hide behind a switch if drawn straight."""

from spof.analysis import analyze
from spof.picture import CLIENT_ACCESS_COLOUR, component_styles, passes_over
from topo.model import DEFAULT_TOPOLOGY, load_topology

FOUR_SWITCHES = DEFAULT_TOPOLOGY.parent / "examples" / "four-switches.yaml"


def test_the_reference_design_marks_only_each_clients_own_access():
    styles = component_styles(analyze(load_topology(), pairs=False))
    assert styles == {address: (CLIENT_ACCESS_COLOUR, "dashed")
                      for address in ("node:s1", "node:s2", "link:client1-s1", "link:client2-s2")}


def test_a_site_spof_is_drawn_as_a_spof_even_where_it_is_also_a_clients_access():
    analysis = analyze(load_topology(FOUR_SWITCHES), pairs=False)
    styles = component_styles(analysis)
    assert styles["node:s3"] == ("#d62728", "solid")  # web, read and write: red
    spofs = {j.component for j in analysis.spofs()}
    assert all(styles[c][0] != CLIENT_ACCESS_COLOUR for c in spofs)


def test_a_link_behind_a_switch_of_its_row_is_found():
    pos = {"s3": (0.0, -3.0), "s4": (1.0, -3.0), "s5": (2.0, -3.0), "lb1": (0.5, -2.0)}
    assert passes_over(pos, "s3", "s5")
    assert not passes_over(pos, "s3", "s4") and not passes_over(pos, "s3", "lb1")
