"""Defender advanced-hunting tables, in Microsoft's column names and types.

Source: Microsoft Learn, "Advanced hunting schema reference" pages
(https://learn.microsoft.com/defender-xdr/advanced-hunting-<table>-table), checked against
../shared/reference/kusto-and-defender.md. Two flavours:

* ``defender``: the advanced-hunting tables as Defender XDR shows them (``Timestamp``;
  ``AdditionalFields`` is typed ``string`` there and is read with ``parse_json``),
* ``sentinel``: Microsoft Sentinel's Log Analytics copies of the same tables
  (https://learn.microsoft.com/azure/azure-monitor/reference/tables/<table>), which add
  ``TimeGenerated``, ``TenantId``, ``SourceSystem``, ``Type`` and type ``AdditionalFields`` as
  ``dynamic``.
"""

from __future__ import annotations

from typing import Literal

from harness.rules.kql.schema_more import MORE_TABLES

Flavour = Literal["defender", "sentinel"]

_S, _L, _I, _D, _B, _Y = "string", "long", "int", "datetime", "bool", "dynamic"


def _cat(*parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [c for part in parts for c in part]


def _ip_process(prefix: str) -> list[tuple[str, str]]:
    """The ``InitiatingProcess*`` block shared by most Device* tables."""
    p = prefix
    return [
        (f"{p}AccountDomain", _S), (f"{p}AccountName", _S), (f"{p}AccountSid", _S),
        (f"{p}AccountUpn", _S), (f"{p}AccountObjectId", _S), (f"{p}SHA1", _S), (f"{p}SHA256", _S),
        (f"{p}MD5", _S), (f"{p}FileName", _S), (f"{p}FileSize", _L),
        (f"{p}VersionInfoCompanyName", _S), (f"{p}VersionInfoProductName", _S),
        (f"{p}VersionInfoProductVersion", _S), (f"{p}VersionInfoInternalFileName", _S),
        (f"{p}VersionInfoOriginalFileName", _S), (f"{p}VersionInfoFileDescription", _S),
        (f"{p}Id", _L), (f"{p}CommandLine", _S), (f"{p}CreationTime", _D), (f"{p}FolderPath", _S),
        (f"{p}ParentId", _L), (f"{p}ParentFileName", _S), (f"{p}ParentCreationTime", _D),
        (f"{p}IntegrityLevel", _S), (f"{p}TokenElevation", _S),
    ]


_IP = _ip_process("InitiatingProcess")
_IP_EXTRA = [
    ("InitiatingProcessLogonId", _L), ("InitiatingProcessSignerType", _S),
    ("InitiatingProcessSignatureStatus", _S), ("InitiatingProcessSessionId", _L),
    ("InitiatingProcessRemoteSessionDeviceName", _S), ("InitiatingProcessRemoteSessionIP", _S),
    ("IsInitiatingProcessRemoteSession", _B),
]
_DEV = [("Timestamp", _D), ("DeviceId", _S), ("DeviceName", _S), ("ActionType", _S)]
_TAIL = [("ReportId", _L), ("AppGuardContainerId", _S), ("AdditionalFields", _S)]
_FILE = [
    ("FileName", _S), ("FolderPath", _S), ("SHA1", _S), ("SHA256", _S), ("MD5", _S), ("FileSize", _L),
]

TABLES: dict[str, list[tuple[str, str]]] = {
    "DeviceProcessEvents": _cat(_DEV, _FILE, [
        ("ProcessVersionInfoCompanyName", _S), ("ProcessVersionInfoProductName", _S),
        ("ProcessVersionInfoProductVersion", _S), ("ProcessVersionInfoInternalFileName", _S),
        ("ProcessVersionInfoOriginalFileName", _S), ("ProcessVersionInfoFileDescription", _S),
        ("ProcessId", _L), ("ProcessCommandLine", _S), ("ProcessIntegrityLevel", _S),
        ("ProcessTokenElevation", _S), ("ProcessCreationTime", _D), ("AccountDomain", _S),
        ("AccountName", _S), ("AccountSid", _S), ("AccountUpn", _S), ("AccountObjectId", _S),
        ("LogonId", _L), ("ProcessUniqueId", _L), ("ProcessRemoteSessionDeviceName", _S),
        ("ProcessRemoteSessionIP", _S), ("IsProcessRemoteSession", _B), ("CreatedProcessSessionId", _L),
        ("InitiatingProcessUniqueId", _L),
    ], _IP, _IP_EXTRA, _TAIL),
    "DeviceNetworkEvents": _cat(_DEV, [
        ("RemoteIP", _S), ("RemotePort", _I), ("RemoteUrl", _S), ("LocalIP", _S), ("LocalPort", _I),
        ("Protocol", _S), ("LocalIPType", _S), ("RemoteIPType", _S), ("InitiatingProcessUniqueId", _L),
    ], _IP, _IP_EXTRA, _TAIL),
    "DeviceFileEvents": _cat(_DEV, _FILE, [
        ("FileOriginUrl", _S), ("FileOriginReferrerUrl", _S), ("FileOriginIP", _S),
        ("PreviousFolderPath", _S), ("PreviousFileName", _S), ("FileSize", _L),
        ("RequestProtocol", _S), ("RequestSourceIP", _S), ("RequestSourcePort", _I),
        ("RequestAccountName", _S), ("RequestAccountDomain", _S), ("RequestAccountSid", _S),
        ("ShareName", _S), ("SensitivityLabel", _S), ("SensitivitySubLabel", _S),
        ("IsAzureInfoProtectionApplied", _B), ("InitiatingProcessUniqueId", _L),
    ], _IP, _IP_EXTRA, _TAIL),
    "DeviceEvents": _cat(_DEV, _FILE, [
        ("AccountDomain", _S), ("AccountName", _S), ("AccountSid", _S), ("RemoteUrl", _S),
        ("ProcessId", _L), ("ProcessCommandLine", _S), ("ProcessCreationTime", _D),
        ("ProcessTokenElevation", _S), ("LogonId", _L), ("RegistryKey", _S), ("RegistryValueName", _S),
        ("RegistryValueData", _S), ("RemoteDeviceName", _S), ("RemoteIP", _S), ("RemotePort", _I),
        ("LocalIP", _S), ("LocalPort", _I), ("FileOriginUrl", _S), ("FileOriginIP", _S),
        ("InitiatingProcessUniqueId", _L), ("CreatedProcessSessionId", _L),
    ], _IP, _IP_EXTRA, _TAIL),
    "DeviceRegistryEvents": _cat(_DEV, [
        ("RegistryKey", _S), ("RegistryValueType", _S), ("RegistryValueName", _S),
        ("RegistryValueData", _S), ("PreviousRegistryKey", _S), ("PreviousRegistryValueName", _S),
        ("PreviousRegistryValueData", _S), ("InitiatingProcessUniqueId", _L),
    ], _IP, _IP_EXTRA, [("ReportId", _L), ("AppGuardContainerId", _S)]),
    "DeviceLogonEvents": _cat(_DEV, [
        ("LogonType", _S), ("AccountDomain", _S), ("AccountName", _S), ("AccountSid", _S),
        ("Protocol", _S), ("FailureReason", _S), ("IsLocalAdmin", _B), ("LogonId", _L),
        ("RemoteDeviceName", _S), ("RemoteIP", _S), ("RemoteIPType", _S), ("RemotePort", _I),
        ("InitiatingProcessUniqueId", _L),
    ], _IP, _IP_EXTRA, _TAIL),
    "DeviceImageLoadEvents": _cat(
        _DEV, _FILE, [("InitiatingProcessUniqueId", _L)], _IP, _IP_EXTRA,
        [("ReportId", _L), ("AppGuardContainerId", _S)],
    ),
    "DeviceInfo": [
        ("Timestamp", _D), ("DeviceId", _S), ("DeviceName", _S), ("ClientVersion", _S),
        ("PublicIP", _S), ("OSArchitecture", _S), ("OSPlatform", _S), ("OSBuild", _L),
        ("IsAzureADJoined", _B), ("JoinType", _S), ("AadDeviceId", _S), ("LoggedOnUsers", _Y),
        ("RegistryDeviceTag", _S), ("OSVersion", _S), ("MachineGroup", _S), ("ReportId", _L),
        ("OnboardingStatus", _S), ("AdditionalFields", _S), ("DeviceCategory", _S), ("DeviceType", _S),
        ("DeviceSubtype", _S), ("Model", _S), ("Vendor", _S), ("OSDistribution", _S),
        ("OSVersionInfo", _S), ("MergedDeviceIds", _S), ("MergedToDeviceId", _S),
        ("IsInternetFacing", _B), ("SensorHealthState", _S), ("IsExcluded", _B),
        ("ExclusionReason", _S), ("AssetValue", _S), ("ExposureLevel", _S), ("HostDeviceId", _S),
        ("DeviceDynamicTags", _S), ("DeviceManualTags", _S),
    ],
    "DeviceNetworkInfo": [
        ("Timestamp", _D), ("DeviceId", _S), ("DeviceName", _S), ("NetworkAdapterName", _S),
        ("MacAddress", _S), ("NetworkAdapterType", _S), ("NetworkAdapterStatus", _S),
        ("TunnelType", _S), ("ConnectedNetworks", _Y), ("DnsAddresses", _Y),
        ("IPv4Dhcp", _S), ("IPv6Dhcp", _S), ("DefaultGateways", _Y), ("IPAddresses", _Y),
        ("ReportId", _L), ("NetworkAdapterVendor", _S),
    ],
}

TABLES.update(MORE_TABLES)

_SENTINEL_EXTRA = [("TenantId", _S), ("TimeGenerated", _D), ("SourceSystem", _S), ("Type", _S)]


def _dedupe(cols: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for name, typ in cols:
        if name not in seen:
            seen.add(name)
            out.append((name, typ))
    return out


def table_columns(table: str, flavour: Flavour) -> list[tuple[str, str]] | None:
    """The ordered ``(column, kusto type)`` list of ``table`` in ``flavour``, or None if unknown."""
    cols = TABLES.get(table)
    if cols is None:
        return None
    out = _dedupe(cols)
    if flavour == "sentinel":
        out = _dedupe([(n, _Y if n == "AdditionalFields" else t) for n, t in out] + _SENTINEL_EXTRA)
    return out


def table_names() -> list[str]:
    """Every table the schema knows."""
    return sorted(TABLES)
