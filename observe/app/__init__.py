"""The suite assembled: the whole config, the service registry, the CLI root and `observe up`.

Layers, each importing only those below it: the core (observe/*.py, observe/kube, observe/render) <- the parts
(observe/logs, observe/traces, exporters/) <- this package. Parts' CLI modules use this package's config loader
and service registry; the core never imports a part or this package (tests/unit/test_import_map.py).
"""
