from harness.telemetry.collectors.files import LogTap, settle


def test_tap_reads_only_what_was_appended(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("old 1\nold 2\n")
    tap = LogTap("dnsmasq", str(log), "dns")
    mark = tap.mark()
    with log.open("a") as fh:
        fh.write("new 1\n")
    assert tap.read(mark) == b"new 1\n"


def test_rotated_log_is_read_from_the_start(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("a long line before rotation\n")
    tap = LogTap("squid", str(log), "proxy")
    mark = tap.mark()
    log.write_text("after\n")  # truncated and rewritten: smaller than the mark
    assert tap.read(mark) == b"after\n"


def test_missing_log_is_empty_not_an_error(tmp_path):
    tap = LogTap("nflog", str(tmp_path / "absent"), "firewall")
    assert tap.mark() == 0 and tap.read(0) == b""


def test_wait_for_marker_and_settle(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("type=USER msg=audit(1.0:1): msg='recon-harness sync abc'\n")
    tap = LogTap("auditd", str(log), "auditd")
    assert b"sync abc" in tap.wait_for(0, b"sync abc", timeout=1)
    data = tap.wait_for(0, b"never there", timeout=0.2)
    assert b"sync abc" in data  # returns what is there once the timeout passes
    assert settle(lambda: b"stable", quiet_s=0.05, timeout=1) == b"stable"
