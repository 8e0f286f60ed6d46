"""The cluster-state exporter: kube-state-metrics families rendered per object on watch events, joined at scrape."""
