"""SLOs and alerting in the control plane: the SLO API and page, runbooks, the
recorded request statistics behind SLO status without Prometheus, and the
``summit alerts`` commands. The domain logic lives in the top-level ``alerts``."""
