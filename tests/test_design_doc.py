"""DESIGN.md's topic table is the contract module, row for row: every endpoint of ``robot_rl.contract.topics``
appears with its type and QoS, and the table names nothing the contract does not define."""
from __future__ import annotations

import re
from pathlib import Path

from robot_rl.contract import topics

ROOT = Path(__file__).resolve().parents[1]


def qos_label(q) -> str:
    if q is None:
        return "service"
    if isinstance(q, tuple):
        return "any publisher (" + " + ".join(qos_label(x) for x in q) + ")"
    return f"{q.reliability.replace('_', ' ')}, {q.durability.replace('_', ' ')}, depth {q.depth}"


def type_label(t: str) -> str:
    pkg, kind, name = t.split("/")
    return f"{pkg}/{name}" + (" (service)" if kind == "srv" else "")


def doc_rows() -> dict[str, tuple[str, str]]:
    text = (ROOT / "DESIGN.md").read_text()
    section = text.split("## Topic contract", 1)[1].split("\n## ", 1)[0]
    table = section.split("\n\n")
    rows = {}
    for block in table:
        lines = [l for l in block.splitlines() if l.startswith("| `")]
        if lines and "| topic | type | QoS |" in block:
            for l in lines:
                cells = [c.strip() for c in l.strip().strip("|").split("|")]
                name = cells[0].strip("`")
                assert name not in rows, f"DESIGN.md's topic table lists {name} twice"
                rows[name] = (cells[1], cells[2])
    return rows


def test_design_doc_topic_table_matches_the_contract_module():
    rows = doc_rows()
    assert rows, "DESIGN.md has no '| topic | type | QoS |' table in its Topic contract section"
    contract = topics.all_endpoints()
    missing = sorted(set(contract) - set(rows))
    extra = sorted(set(rows) - set(contract))
    assert not missing, f"in contract/topics.py but not in DESIGN.md: {missing}"
    assert not extra, f"in DESIGN.md but not in contract/topics.py: {extra}"
    for name, e in contract.items():
        assert rows[name] == (type_label(e.type), qos_label(e.qos)), (name, rows[name])


def test_every_contract_name_is_relative():
    for name in topics.all_endpoints():
        assert not name.startswith("/") and re.fullmatch(r"[a-z0-9_/<>]+", name), name


def print_table() -> None:  # python tests/test_design_doc.py: the rows to paste into DESIGN.md
    for name, e in topics.all_endpoints().items():
        print(f"| `{name}` | {type_label(e.type)} | {qos_label(e.qos)} | {e.doc} |")


if __name__ == "__main__":
    print_table()
