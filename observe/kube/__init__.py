"""Kubernetes API access: credentials (KubeClient) and list+watch caches (Reflector).

Typical use, e.g. the pods of this node::

    client = await KubeClient.from_config(config.kube)
    pods = Reflector(client, PODS, field_selector=f"spec.nodeName={node}", transform=keep_needed_fields,
                     on_add=..., on_update=..., on_delete=...)
    pods.start()
    await pods.wait_synced(within=30)
    ...
    await pods.stop(); await client.close()
"""

from observe.kube.client import KubeApiError, KubeClient, KubeConfigError, load_configuration
from observe.kube.reflector import NAMESPACES, NODES, PODS, REPLICASETS, SERVICES, Reflector, Resource, object_key

__all__ = [
    "NAMESPACES", "NODES", "PODS", "REPLICASETS", "SERVICES", "KubeApiError", "KubeClient", "KubeConfigError",
    "Reflector", "Resource", "load_configuration", "object_key",
]
