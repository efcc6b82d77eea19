"""The embedded lab's simulated internet: HTTPS (443) and HTTP (80) services answering like the
real ones, with certificates from the lab CA (:mod:`harness.lab.pki`), logging every request.

Run it (inside the simulated-internet namespace, where the service IPs exist)::

    python -m harness.lab.inet --config LAB.toml --cert-dir DIR --log FILE --bind-all-service-ips

or, for tests, every virtual host on one loopback port (chosen by Host header / SNI)::

    python -m harness.lab.inet --cert-dir DIR --log FILE --listen 127.0.0.1:0 [--listen-http 127.0.0.1:0]

The first stdout line is the ``start`` record (readiness signal, with the bound ports). SIGTERM or
SIGINT stops it cleanly (exit 0, ``stop`` record).

Services (see each module): ``api.shodan.io`` (:mod:`.shodan`), ``whois.arin.net`` and
``rdap.arin.net`` (:mod:`.arin`), ``bgp.he.net`` (:mod:`.bgphe`), ``dnsdumpster.com``,
``api.dnsdumpster.com``, ``www.bing.com`` and the negative control ``www.example.com``
(:mod:`.search_sites`). A Host the lab config does not list gets 421 (still logged).

Request log (JSON lines, one object per line, flushed per line, appended)
-------------------------------------------------------------------------
Every record has ``ts`` (epoch seconds, float), ``utc`` and ``time`` (ISO 8601 UTC with
microseconds, ``2026-11-28T05:35:38.220113Z``) and ``kind`` = ``event`` (the record type). ``kind``,
``ts``, ``utc``, ``client``, ``ua`` are the names of the 2026-11-28 recording's ``fakeinet.jsonl``;
``event``, ``time``, ``client_ip``, ``user_agent`` carry the same values under the lab issue's names,
so one parser reads both the recording and live logs.

``start``
    ``pid``, ``config``, ``listening``: ``[{"ip", "port", "tls", "service"}]``.
``tls_sni`` (one per completed TLS handshake)
    ``sni`` (null when the client sent none), ``sni_known``, ``cert`` (service whose certificate was
    served), ``tls_version``, ``server_ip``, ``server_port``, ``client``/``client_ip``, ``client_port``.
``tls_error`` (failed handshake, or a handshake followed by a close without any request, which is
how curl rejects a certificate whose name does not match)
    ``sni``, ``error``, ``server_ip``, ``server_port``, ``client``/``client_ip``, ``client_port``.
``http`` (one per request, also for malformed ones)
    ``host`` (Host header without port, lowercased; SNI when absent), ``sni``, ``service`` (lab
    service name or null), ``method``, ``path``, ``query`` (raw query string, secret parameters such
    as ``key=`` replaced by ``<redacted>`` before the record is built), ``status``,
    ``ua``/``user_agent``, ``accept``, ``x_forwarded_for`` (Squid's header, or null), ``bytes``
    (response body bytes sent), ``tls``, ``server_ip``, ``server_port``, ``client``/``client_ip``,
    ``client_port``; ``error`` when the request was malformed or a handler failed.
``stop``
    ``pid``.

No header other than User-Agent, Accept and X-Forwarded-For is logged (cookies and ``X-API-Key``
stay out), and http.server's own stderr request lines are suppressed (they would hold the key).
"""
