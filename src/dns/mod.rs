//! Live DNS: the watcher task and the analysis of MX, SPF, DKIM and DMARC.
