"""The evidence pack: SBOM, vulnerability report, SSDF mapping, decision log, SLOs,
probe results, audit verification and the DPIA inventory, with a manifest."""
