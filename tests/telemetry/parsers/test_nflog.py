from __future__ import annotations

from harness.telemetry.parsers import ParseStats
from harness.telemetry.parsers.nflog import parse

# ulogd2 JSON output plugin field names (ulogd's IP2STR/ICMP/PRINTPKT keys).
LINES = [
    '{"timestamp": "2026-11-28T05:35:50.204+0000", "dvc": "rec-inet", "raw.pktlen": 28, "oob.prefix": "harness-probe ",'
    ' "oob.time.sec": 1795844150, "oob.time.usec": 204000, "oob.in": "veth-inet", "oob.out": "",'
    ' "src_ip": "198.51.100.250", "dest_ip": "198.51.100.129", "ip.protocol": 1, "icmp.type": 8, "icmp.code": 0}',
    '{"oob.time.sec": 1795844150, "oob.time.usec": 500000, "oob.prefix": "drop ", "src_ip": "198.51.100.250",'
    ' "dest_ip": "198.51.100.131", "ip.protocol": 6, "src_port": 40000, "dest_port": 443}',
]


def test_ulogd_json() -> None:
    st = ParseStats("nflog")
    recs = list(parse([*LINES, "{bad", '{"no": "packet"}'], stats=st))
    assert len(recs) == 2 and st.unparseable == 2
    assert recs[0].fields["icmp.type"] == 8 and recs[0].fields["ip.protocol"] == 1
    assert recs[0].time == 1795844150.204
    assert recs[1].time == 1795844150.5
