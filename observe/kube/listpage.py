"""msgspec decoders of a LIST page and of an object's UID, imported on first use by the reflector: the shipper
without Kubernetes metadata never loads msgspec (tests/unit/logs/test_shipper_imports.py)."""

import msgspec


class ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    cont: str = msgspec.field(default="", name="continue")


class Page(msgspec.Struct):
    """A LIST answer: its metadata and each item's raw JSON (decoded later, or never)."""

    metadata: ListMeta = msgspec.field(default_factory=ListMeta)
    items: list[msgspec.Raw] | None = None


class Uid(msgspec.Struct):
    uid: str = ""


class Head(msgspec.Struct):
    """Only an object's UID: what a shard needs to know whether the object is its own."""

    metadata: Uid = msgspec.field(default_factory=Uid)


PAGE = msgspec.json.Decoder(Page)
HEAD = msgspec.json.Decoder(Head)
