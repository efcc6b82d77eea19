import pytest

from harness.errors import TargetError
from harness.targets.base import env_payload, get_target, parse_target_url, split_marker, wrap_command


def test_parse_ssh_url_with_options() -> None:
    u = parse_target_url("ssh://alice@lab.example:2222?identity_file=/k&accept_unknown_host_key=true")
    assert (u.scheme, u.user, u.host, u.port) == ("ssh", "alice", "lab.example", 2222)
    assert u.options == {"identity_file": "/k", "accept_unknown_host_key": "true"}


def test_unknown_scheme_is_refused_with_the_known_ones() -> None:
    with pytest.raises(TargetError, match=r"unknown target scheme 'ftp'.*local, netns, ssh, vagrant"):
        get_target("ftp://x")


def test_missing_scheme() -> None:
    with pytest.raises(TargetError, match="needs a scheme"):
        parse_target_url("lab-host")


def test_marker_is_split_from_stderr() -> None:
    stderr, pid, ses = split_marker("__HARNESS_EXEC__ 4242 17\nreal error\n")
    assert (stderr, pid, ses) == ("real error\n", 4242, 17)
    # (unsigned)-1 means "no audit session"
    assert split_marker("__HARNESS_EXEC__ 5 4294967295\n")[2] is None
    assert split_marker("no marker") == ("no marker", None, None)


def test_env_payload_rejects_bad_names_and_newlines() -> None:
    assert env_payload({"A_B": "x y"}) == b"A_B=x y\n\n"
    with pytest.raises(TargetError):
        env_payload({"1X": "v"})
    with pytest.raises(TargetError):
        env_payload({"X": "a\nb"})


def test_wrapper_keeps_secrets_out_of_the_command_text() -> None:
    w = wrap_command('shodan init "$KEY"', "sh", ["KEY"])
    assert "read -r __hv" in w and "exec sh -c" in w
