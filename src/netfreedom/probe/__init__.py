"""The probe, the control server and the censorship lab (level 2: may import analysis, ingest, models).

- ``measure`` / ``runner``: web_connectivity measurements in OONI's format; ``summary`` adds the probe's
  verdict keys with the analysis code.
- ``control`` / ``control_server``: the web connectivity test helper (control) protocol.
- ``lab`` (``labdns``, ``labweb``): a small censored world on loopback for tests and demonstrations.
- Shared plumbing: ``dnslookup``, ``netio``, ``httpclient``, ``failures`` (OONI failure strings),
  ``addresses``, ``serving``, ``consent`` (the first-run risk notice).
"""
