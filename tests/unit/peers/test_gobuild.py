"""The go.mod reading behind the wrapper-module builder (pure text, no Go toolchain)."""

from __future__ import annotations

from tests.peers.gobuild import module_replaces, requirements
from tests.peers.kube import staging_replaces_from

GOMOD = """module k8s.io/kubernetes

go 1.26.0

require (
\tgithub.com/spf13/cobra v1.10.1
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0 // indirect
)

require go.etcd.io/etcd/client/v3 v3.7.0

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tgithub.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0
\tgolang.org/x/net v0.1.0 => golang.org/x/net v0.2.0 // pinned
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY

replace example.com/old => example.com/new v1.2.3
"""


def test_requirements_reads_blocks_single_lines_and_indirect() -> None:
    assert requirements(GOMOD) == {
        "github.com/spf13/cobra": "v1.10.1",
        "k8s.io/api": "v0.0.0",
        "k8s.io/client-go": "v0.0.0",
        "go.etcd.io/etcd/client/v3": "v3.7.0",
    }


def test_module_replaces_keep_only_module_targets() -> None:
    # Local folder targets are absent from the module zip, so they must not be copied.
    assert module_replaces(GOMOD) == {
        "github.com/Shopify/sarama": "github.com/Shopify/sarama@v1.33.0",
        "golang.org/x/net@v0.1.0": "golang.org/x/net@v0.2.0",
        "example.com/old": "example.com/new@v1.2.3",
    }


def test_kubernetes_staging_modules_map_to_their_published_versions() -> None:
    assert staging_replaces_from(GOMOD, "v1.37.2") == {
        "k8s.io/api": "k8s.io/api@v0.37.2",
        "k8s.io/client-go": "k8s.io/client-go@v0.37.2",
    }
