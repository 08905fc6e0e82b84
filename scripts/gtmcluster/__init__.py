"""gtmcluster: a local gtmd cluster on loopback — a 3-member etcd (Debian's /usr/bin/etcd) and N
gtmd nodes (ns1, ns2, ...) in cluster mode, each with its own probe source address
(health.source_address 127.0.1.<n>) and its own DNS and HTTP ports.

Used by scripts/cluster (to try cluster mode), bench/cluster-bench and scripts/drill --nodes N.
Standard library only. Only 127.0.0.0/8 is ever addressed.

  local   Etcd (the members), Node (one gtmd), LocalCluster (both, started and stopped together)
  cli     the command line of scripts/cluster (start, stop, status)
"""
