"""Local detection engines: Sigma (:mod:`harness.rules.sigma`) and KQL (:mod:`harness.rules.kql`)."""
