"""gtmdrill: the region failover drill (issue 5), driven by scripts/drill. See scripts/DRILL.md.

One machine, loopback only. A drill starts regions (one gtm-test-gateway per 127.0.0.x
address), gtmd, unbound pinned to loopback, a load client that resolves through unbound and
honours the TTL, and watchers; injects one scenario's fault; and writes what it measured as
records. The analysis and the report are computed from those records alone, so a saved run
can be read again offline (`scripts/drill analyse records.json`).

Modules, in the order a run uses them:

  cli          the command line (a scenario, or `analyse RECORDS`), exit codes, output files
  common       names, constants, DrillError, log, durations
  environment  the parts and their removal: processes (PR_SET_PDEATHSIG), the nft table, the
               gateways, gtmd (which binary, built when missing), unbound, Prometheus
  net          small asyncio HTTP/1.1 and DNS clients
  load         the load client: an application's resolver cache and its HTTP requests
  watchers     what unbound and gtmd answer while the load runs; gtmd and unbound stay alive
  scenarios    the faults: region-down, region-blackhole, region-hang, recover, planned-drain,
               node-down, region-degraded
  runner       one drill: set-up, load, watchers and scenario together; its Records
  records      the raw records of a run, saved to and loaded from JSON
  analysis     records -> the report's figures (no sockets, no clock)
  report       figures -> the printed report, in fortio's shape

The standard library plus dnspython (python3-dnspython) for the live drill; analysis, report
and records need only the standard library. Run it with Debian's /usr/bin/python3.
"""
