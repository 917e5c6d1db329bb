"""The expert's calibration loop: guides and edge cases, triage, calibration sessions,
qualification and re-calibration, feedback and the audit trail (CALIBRATION.md)."""
