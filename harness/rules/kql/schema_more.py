"""More Defender advanced-hunting tables (alerts, e-mail, identity and Entra sign-ins, cloud apps, TVM) and
the two Log Analytics tables public Device* hunting queries join (SecurityEvent, IntuneDevices).

Column names and types as the "<table> table in the advanced hunting schema" pages of the
Microsoft Defender XDR documentation list them (MicrosoftDocs/defender-docs,
defender-xdr/<page> named beside each table). Queries over Device* tables join these often.
"""

from __future__ import annotations

_TYPES = {"string": "string", "long": "long", "int": "int", "datetime": "datetime", "dynamic": "dynamic",
          "bool": "bool", "real": "real"}

_SPEC = {
    # advanced-hunting-alertinfo-table.md
    "AlertInfo": (
        "Timestamp:datetime AlertId:string Title:string Category:string Severity:string ServiceSource:string "
        "DetectionSource:string AttackTechniques:string"
    ),
    # advanced-hunting-alertevidence-table.md
    "AlertEvidence": (
        "Timestamp:datetime AlertId:string Title:string Categories:string AttackTechniques:string "
        "ServiceSource:string DetectionSource:string EntityType:string EvidenceRole:string "
        "EvidenceDirection:string FileName:string FolderPath:string SHA1:string SHA256:string FileSize:long "
        "ThreatFamily:string RemoteIP:string RemoteUrl:string AccountName:string AccountDomain:string "
        "AccountSid:string AccountObjectId:string AccountUpn:string DeviceId:string DeviceName:string "
        "LocalIP:string NetworkMessageId:string EmailSubject:string Application:string ApplicationId:int "
        "OAuthApplicationId:string ProcessCommandLine:string RegistryKey:string RegistryValueName:string "
        "RegistryValueData:string AdditionalFields:string Severity:string CloudResource:string "
        "CloudPlatform:string ResourceType:string ResourceID:string SubscriptionId:string"
    ),
    # advanced-hunting-devicetvmsoftwarevulnerabilities-table.md
    "DeviceTvmSoftwareVulnerabilities": (
        "DeviceId:string DeviceName:string OSPlatform:string OSVersion:string OSArchitecture:string "
        "SoftwareVendor:string SoftwareName:string SoftwareVersion:string CveId:string "
        "VulnerabilitySeverityLevel:string RecommendedSecurityUpdate:string "
        "RecommendedSecurityUpdateId:string CveTags:dynamic"
    ),
    # advanced-hunting-devicetvmsoftwareinventory-table.md
    "DeviceTvmSoftwareInventory": (
        "DeviceId:string DeviceName:string OSPlatform:string OSVersion:string OSArchitecture:string "
        "SoftwareVendor:string SoftwareName:string SoftwareVersion:string EndOfSupportStatus:string "
        "EndOfSupportDate:datetime ProductCodeCpe:string"
    ),
    # advanced-hunting-emailevents-table.md
    "EmailEvents": (
        "Timestamp:datetime NetworkMessageId:string InternetMessageId:string SenderMailFromAddress:string "
        "SenderFromAddress:string SenderDisplayName:string SenderObjectId:string SenderMailFromDomain:string "
        "SenderFromDomain:string SenderIPv4:string SenderIPv6:string RecipientEmailAddress:string "
        "RecipientObjectId:string Subject:string EmailClusterId:long EmailDirection:string "
        "DeliveryAction:string DeliveryLocation:string ThreatTypes:string ThreatNames:string "
        "DetectionMethods:string ConfidenceLevel:string BulkComplaintLevel:int EmailAction:string "
        "EmailActionPolicy:string EmailActionPolicyGuid:string AuthenticationDetails:string "
        "AttachmentCount:int UrlCount:int EmailLanguage:string Connectors:string OrgLevelAction:string "
        "OrgLevelPolicy:string UserLevelAction:string UserLevelPolicy:string ReportId:string "
        "AdditionalFields:string LatestDeliveryLocation:string LatestDeliveryAction:string"
    ),
    # advanced-hunting-emailattachmentinfo-table.md
    "EmailAttachmentInfo": (
        "Timestamp:datetime NetworkMessageId:string SenderFromAddress:string SenderDisplayName:string "
        "SenderObjectId:string RecipientEmailAddress:string RecipientObjectId:string FileName:string "
        "FileType:string SHA256:string FileSize:long ThreatTypes:string ThreatNames:string "
        "DetectionMethods:string ReportId:string"
    ),
    # advanced-hunting-identityinfo-table.md
    "IdentityInfo": (
        "Timestamp:datetime ReportId:string AccountObjectId:string AccountUpn:string OnPremSid:string "
        "AccountDisplayName:string AccountName:string AccountDomain:string CriticalityLevel:int Type:string "
        "DistinguishedName:string CloudSid:string GivenName:string Surname:string Department:string "
        "JobTitle:string EmailAddress:string SipProxyAddress:string Address:string City:string "
        "Country:string IsAccountEnabled:bool Manager:string Phone:string CreatedDateTime:datetime "
        "ChangeSource:string BlastRadius:string CompanyName:string DeletedDateTime:datetime "
        "EmployeeId:string OtherMailAddresses:dynamic RiskLevel:string RiskLevelDetails:string State:string "
        "Tags:dynamic AssignedRoles:dynamic PrivilegedEntraPimRoles:dynamic TenantId:string "
        "SourceSystem:string OnPremObjectId:string TenantMembershipType:string RiskStatus:string "
        "UserAccountControl:string IdentityEnvironment:string SourceProviders:dynamic "
        "GroupMembership:dynamic"
    ),
    # advanced-hunting-aadsignineventsbeta-table.md (IsGuestUser is listed as "boolean")
    "AADSignInEventsBeta": (
        "Timestamp:datetime Application:string ApplicationId:string LogonType:string ErrorCode:int "
        "CorrelationId:string SessionId:string AccountDisplayName:string AccountObjectId:string "
        "AccountUpn:string IsExternalUser:int IsGuestUser:bool AlternateSignInName:string "
        "LastPasswordChangeTimestamp:datetime ResourceDisplayName:string ResourceId:string "
        "ResourceTenantId:string DeviceName:string AadDeviceId:string EntraIdDeviceId:string "
        "OSPlatform:string DeviceTrustType:string IsManaged:int IsCompliant:int "
        "AuthenticationProcessingDetails:string AuthenticationRequirement:string TokenIssuerType:int "
        "RiskLevelAggregated:int RiskDetails:int RiskState:int UserAgent:string ClientAppUsed:string "
        "Browser:string ConditionalAccessPolicies:string ConditionalAccessStatus:int IPAddress:string "
        "Country:string State:string City:string Latitude:string Longitude:string "
        "NetworkLocationDetails:string RequestId:string ReportId:string EndpointCall:string"
    ),
    # advanced-hunting-identitylogonevents-table.md
    "IdentityLogonEvents": (
        "Timestamp:datetime ActionType:string Application:string LogonType:string Protocol:string "
        "FailureReason:string AccountName:string AccountDomain:string AccountUpn:string AccountSid:string "
        "AccountObjectId:string AccountDisplayName:string DeviceName:string DeviceType:string "
        "OSPlatform:string IPAddress:string Port:int DestinationDeviceName:string "
        "DestinationIPAddress:string DestinationPort:int TargetDeviceName:string "
        "TargetAccountDisplayName:string Location:string Isp:string ReportId:string AdditionalFields:dynamic"
    ),
    # advanced-hunting-identityqueryevents-table.md
    "IdentityQueryEvents": (
        "Timestamp:datetime ActionType:string Application:string QueryType:string QueryTarget:string "
        "Query:string Protocol:string AccountName:string AccountDomain:string AccountUpn:string "
        "AccountSid:string AccountObjectId:string AccountDisplayName:string DeviceName:string "
        "IPAddress:string Port:int DestinationDeviceName:string DestinationIPAddress:string "
        "DestinationPort:int TargetDeviceName:string TargetAccountUpn:string TargetAccountDisplayName:string "
        "Location:string ReportId:string AdditionalFields:dynamic"
    ),
    # advanced-hunting-identitydirectoryevents-table.md
    "IdentityDirectoryEvents": (
        "Timestamp:datetime ActionType:string Application:string TargetAccountUpn:string "
        "TargetAccountDisplayName:string TargetDeviceName:string DestinationDeviceName:string "
        "DestinationIPAddress:string DestinationPort:int Protocol:string AccountName:string "
        "AccountDomain:string AccountUpn:string AccountSid:string AccountObjectId:string "
        "AccountDisplayName:string DeviceName:string IPAddress:string Port:int Location:string ISP:string "
        "ReportId:string AdditionalFields:dynamic"
    ),
    # advanced-hunting-devicetvmsecureconfigurationassessment-table.md
    "DeviceTvmSecureConfigurationAssessment": (
        "DeviceId:string DeviceName:string OSPlatform:string Timestamp:datetime ConfigurationId:string "
        "ConfigurationCategory:string ConfigurationSubcategory:string ConfigurationImpact:real "
        "IsCompliant:bool IsApplicable:bool Context:dynamic IsExpectedUserImpact:bool"
    ),
    # advanced-hunting-devicetvmbrowserextensions-table.md
    "DeviceTvmBrowserExtensions": (
        "DeviceId:string BrowserName:string ExtensionId:string ExtensionName:string "
        "ExtensionDescription:string ExtensionVersion:string ExtensionRisk:string ExtensionVendor:string "
        "IsActivated:string InstallationTime:datetime"
    ),
    # advanced-hunting-devicefilecertificateinfo-table.md
    "DeviceFileCertificateInfo": (
        "Timestamp:datetime DeviceId:string DeviceName:string SHA1:string IsSigned:bool SignatureType:string "
        "Signer:string SignerHash:string Issuer:string IssuerHash:string CertificateSerialNumber:string "
        "CrlDistributionPointUrls:string CertificateCreationTime:datetime CertificateExpirationTime:datetime "
        "CertificateCountersignatureTime:datetime IsTrusted:bool IsRootSignerMicrosoft:bool ReportId:long"
    ),
    # advanced-hunting-devicetvminfogathering-table.md
    "DeviceTvmInfoGathering": (
        "Timestamp:datetime LastSeenTime:datetime DeviceId:string DeviceName:string OSPlatform:string "
        "AdditionalFields:dynamic"
    ),
    # advanced-hunting-devicetvmsoftwarevulnerabilitieskb-table.md
    "DeviceTvmSoftwareVulnerabilitiesKB": (
        "CveId:string CvssScore:string IsExploitAvailable:bool VulnerabilitySeverityLevel:string "
        "LastModifiedTime:datetime PublishedDate:datetime VulnerabilityDescription:string "
        "AffectedSoftware:dynamic"
    ),
    # advanced-hunting-cloudappevents-table.md
    "CloudAppEvents": (
        "Timestamp:datetime ActionType:string Application:string ApplicationId:int AppInstanceId:int "
        "AccountObjectId:string AccountId:string AccountDisplayName:string IsAdminOperation:bool "
        "DeviceType:string OSPlatform:string IPAddress:string IsAnonymousProxy:bool CountryCode:string "
        "City:string Isp:string UserAgent:string ActivityType:string ActivityObjects:dynamic "
        "ObjectName:string ObjectType:string ObjectId:string ReportId:string AccountType:string "
        "IsExternalUser:bool IsImpersonated:bool IPTags:dynamic IPCategory:string UserAgentTags:dynamic "
        "RawEventData:dynamic AdditionalFields:dynamic LastSeenForUser:dynamic UncommonForUser:dynamic "
        "AuditSource:string SessionData:dynamic OAuthAppId:string"
    ),
    # advanced-hunting-devicetvmsecureconfigurationassessmentkb-table.md
    "DeviceTvmSecureConfigurationAssessmentKB": (
        "ConfigurationId:string ConfigurationImpact:real ConfigurationName:string ConfigurationDescription:string "
        "RiskDescription:string ConfigurationCategory:string ConfigurationSubcategory:string "
        "ConfigurationBenchmarks:dynamic Tags:dynamic RemediationOptions:string"
    ),
    # advanced-hunting-devicetvmbrowserextensionskb-table.md
    "DeviceTvmBrowserExtensionsKB": (
        "BrowserName:string ExtensionId:string ExtensionName:string ExtensionDescription:string "
        "ExtensionVersion:dynamic ExtensionRisk:string PermissionId:string PermissionName:string "
        "PermissionDescription:string PermissionRisk:string IsPermissionRequired:string"
    ),
    # Log Analytics tables (Sentinel): MicrosoftDocs/azure-reference-other, azure-monitor-ref/tables/
    # includes/securityevent-include.md @04e8b5c; the hidden standard columns (_BilledSize, _IsBillable,
    # _ResourceId, _SubscriptionId) are left out, as `*` leaves them out in Log Analytics
    "SecurityEvent": (
        "AccessMask:string Account:string AccountDomain:string AccountExpires:string AccountName:string "
        "AccountSessionIdentifier:string AccountType:string Activity:string AdditionalInfo:string "
        "AdditionalInfo2:string AllowedToDelegateTo:string Attributes:string AuditPolicyChanges:string "
        "AuditsDiscarded:int AuthenticationLevel:int AuthenticationPackageName:string "
        "AuthenticationProvider:string AuthenticationServer:string AuthenticationService:int "
        "AuthenticationType:string AzureDeploymentID:string CACertificateHash:string CalledStationID:string "
        "CallerProcessId:string CallerProcessName:string CallingStationID:string CAPublicKeyHash:string "
        "CategoryId:string CertificateDatabaseHash:string Channel:string ClassId:string ClassName:string "
        "ClientAddress:string ClientIPAddress:string ClientName:string CommandLine:string "
        "CompatibleIds:string Computer:string DCDNSName:string DeviceDescription:string DeviceId:string "
        "DisplayName:string Disposition:string DomainBehaviorVersion:string DomainName:string "
        "DomainPolicyChanged:string DomainSid:string EAPType:string ElevatedToken:string ErrorCode:int "
        "EventData:string EventID:int EventSourceName:string ExtendedQuarantineState:string "
        "FailureReason:string FileHash:string FilePath:string FilePathNoUser:string Filter:string "
        "ForceLogoff:string Fqbn:string FullyQualifiedSubjectMachineName:string "
        "FullyQualifiedSubjectUserName:string GroupMembership:string HandleId:string HardwareIds:string "
        "HomeDirectory:string HomePath:string InterfaceUuid:string IpAddress:string IpPort:string "
        "KeyLength:int Level:string LmPackageName:string LocationInformation:string LockoutDuration:string "
        "LockoutObservationWindow:string LockoutThreshold:string LoggingResult:string LogonGuid:string "
        "LogonHours:string LogonID:string LogonProcessName:string LogonType:int LogonTypeName:string "
        "MachineAccountQuota:string MachineInventory:string MachineLogon:string ManagementGroupName:string "
        "MandatoryLabel:string MaxPasswordAge:string MemberName:string MemberSid:string MinPasswordAge:string "
        "MinPasswordLength:string MixedDomainMode:string NASIdentifier:string NASIPv4Address:string "
        "NASIPv6Address:string NASPort:string NASPortType:string NetworkPolicyName:string NewDate:string "
        "NewMaxUsers:string NewProcessId:string NewProcessName:string NewRemark:string NewShareFlags:string "
        "NewTime:string NewUacValue:string NewValue:string NewValueType:string ObjectName:string "
        "ObjectServer:string ObjectType:string ObjectValueName:string OemInformation:string "
        "OldMaxUsers:string OldRemark:string OldShareFlags:string OldUacValue:string OldValue:string "
        "OldValueType:string OperationType:string PackageName:string ParentProcessName:string "
        "PasswordHistoryLength:string PasswordLastSet:string PasswordProperties:string PreviousDate:string "
        "PreviousTime:string PrimaryGroupId:string PrivateKeyUsageCount:string PrivilegeList:string "
        "Process:string ProcessId:string ProcessName:string ProfilePath:string Properties:string "
        "ProtocolSequence:string ProxyPolicyName:string QuarantineHelpURL:string QuarantineSessionID:string "
        "QuarantineSessionIdentifier:string QuarantineState:string QuarantineSystemHealthResult:string "
        "RelativeTargetName:string RemoteIpAddress:string RemotePort:string Requester:string RequestId:string "
        "RestrictedAdminMode:string RowsDeleted:string SamAccountName:string ScriptPath:string "
        "SecurityDescriptor:string ServiceAccount:string ServiceFileName:string ServiceName:string "
        "ServiceStartType:int ServiceType:string SessionName:string ShareLocalPath:string ShareName:string "
        "SidHistory:string SourceComputerId:string SourceSystem:string Status:string StorageAccount:string "
        "SubcategoryGuid:string SubcategoryId:string Subject:string SubjectAccount:string "
        "SubjectDomainName:string SubjectKeyIdentifier:string SubjectLogonId:string SubjectMachineName:string "
        "SubjectMachineSID:string SubjectUserName:string SubjectUserSid:string SubStatus:string "
        "TableId:string TargetAccount:string TargetDomainName:string TargetInfo:string "
        "TargetLinkedLogonId:string TargetLogonGuid:string TargetLogonId:string "
        "TargetOutboundDomainName:string TargetOutboundUserName:string TargetServerName:string "
        "TargetSid:string TargetUser:string TargetUserName:string TargetUserSid:string Task:int "
        "TemplateContent:string TemplateDSObjectFQDN:string TemplateInternalName:string TemplateOID:string "
        "TemplateSchemaVersion:string TemplateVersion:string TimeGenerated:datetime TokenElevationType:string "
        "TransmittedServices:string Type:string UserAccountControl:string UserParameters:string "
        "UserPrincipalName:string UserWorkstations:string VendorIds:string VirtualAccount:string "
        "Workstation:string WorkstationName:string"
    ),
    # intunedevices-include.md @97500f2 (hidden standard columns left out as above)
    "IntuneDevices": (
        "AADTenantId:string AndroidPatchLevel:string BatchId:string CategoryName:string CompliantState:string "
        "CreatedDate:string DeviceId:string DeviceName:string DeviceRegistrationState:string "
        "DeviceState:string EasID:string EncryptionStatusString:string GraphDeviceIsManaged:bool IMEI:string "
        "InGracePeriodUntil:string IntuneAccountId:string JailBroken:string JoinType:string "
        "LastContact:string ManagedBy:string ManagedDeviceName:string Manufacturer:string MEID:string "
        "Model:string OperationName:string OS:string OSVersion:string Ownership:string PhoneNumber:string "
        "PrimaryUser:string ReferenceId:string Result:string SerialNumber:string SkuFamily:string "
        "SourceSystem:string Stats:dynamic StorageFree:long StorageTotal:long SubscriberCarrierNetwork:string "
        "SupervisedStatusString:string TenantId:string TimeGenerated:datetime Type:string UPN:string "
        "UserEmail:string UserName:string WifiMacAddress:string"
    ),
}


MORE_TABLES: dict[str, list[tuple[str, str]]] = {
    name: [(c.split(":")[0], _TYPES[c.split(":")[1]]) for c in spec.split()] for name, spec in _SPEC.items()
}
