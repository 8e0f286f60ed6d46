"""A generic list+watch cache (a "reflector"): it mirrors one resource into memory and calls back on every change.

Protocol, as client-go does it:
- LIST in pages (limit + continue) and remember the list's resourceVersion;
- WATCH from that resourceVersion with allowWatchBookmarks, so quiet resources still advance it;
- on 410 Gone (HTTP or an ERROR event) the version is too old: LIST again and diff against the cache, so objects
  deleted while we were away get a delete callback and nothing is lost;
- while the API is down, back off exponentially with jitter (0.5 s up to 30 s), never hammering it.

Decoding is orjson over aiohttp lines. kubernetes_asyncio's Watch turns every event into a generated model object:
decoding 10,000 watch events of small pods took 3.1 CPU-s that way against 0.043 s with orjson.loads (73x, measured
on the 2-core dev machine), which would dominate the initial sync, so the library is used for credentials only.

A LIST page is split by msgspec into its items' raw JSON (typed, so the rest of the page is skipped, not built).
With an `owns` predicate (a cluster exporter shard), an item's UID is read first and only the items this shard
owns are decoded whole with orjson; the others are never built as Python objects, nor kept.

With `protobuf` (the list message, e.g. "PodList"), LIST pages are asked for in Kubernetes' protobuf encoding,
which costs the API server about half as much CPU to encode as JSON, and are parsed by upb with only the fields
observe/kube/protobuf.py declares; an owned item becomes the same dict JSON would give, or goes as the message itself
to `transform_message` when the consumer has one (the cluster exporter's pods: no dict is built). Watches stay JSON.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp
import orjson

from observe.glibc import trim_heap
from observe.kube.client import KubeApiError, KubeClient

log = logging.getLogger("observe.kube")

T = TypeVar("T")
Obj = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """An API resource: group ("" for core), version, plural name, and whether it lives in namespaces."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None) -> str:
        """The collection URL path, e.g. /api/v1/namespaces/ns/pods or /apis/apps/v1/deployments."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if namespace and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


PODS = Resource("", "v1", "pods")
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)
NODES = Resource("", "v1", "nodes", namespaced=False)
SERVICES = Resource("", "v1", "services")
REPLICASETS = Resource("apps", "v1", "replicasets")


def object_key(obj: Mapping[str, Any]) -> str:
    """The cache key: "namespace/name", or "name" for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    return _key(meta.get("namespace"), meta.get("name"))


def _key(namespace: str | None, name: Any) -> str:
    return f"{namespace}/{name}" if namespace else str(name)


def _decoders() -> tuple[Any, Any]:
    from observe.kube import listpage

    return listpage.PAGE, listpage.HEAD


def _raw_uid(raw: Any) -> str:
    return str(_decoders()[1].decode(raw).metadata.uid)


def _raw_obj(raw: Any) -> Obj:
    obj: Obj = orjson.loads(memoryview(raw))
    return obj


def _message_uid(item: Any) -> str:
    return str(item.metadata.uid)


class Gone(Exception):
    """The resourceVersion is too old (410): relist."""


def _identity(obj: Obj) -> Any:
    return obj


def _version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


# How a page's item is read: its key, resourceVersion, what the transform takes (the object's dict, or the protobuf
# message itself) and that transform.
Read = Callable[[Any], tuple[str, str, Any, Callable[[Any], Any]]]


# Objects per LIST page. The API server's watch cache spends time proportional to the whole list on every page
# (at 50,000 pods, one client alone: 4.4-5.1 CPU s to serve 500-object pages, 1.7-1.8 s for 2,000, 1.4-1.5 s for
# 5,000, 1.3 s unpaged), so small pages cost it quadratically. 2,000 took the exporter's own sync CPU down too
# (4.07 -> 3.65 s unsharded, 2.06 -> 1.75 s for a shard of 4) for 10-14 MiB more peak RSS; 5,000 saved nothing
# more and cost 29 MiB for a shard. A page is held as raw bytes until applied (listpage.py), at most two at once.
PAGE_SIZE = 2000
# Objects per LIST page in protobuf. A protobuf page is 40 % smaller and our decode of it is lazy (upb), so larger
# pages cost us little: at 75,000 pods, one client alone, the API server spent 1.35 CPU s serving the protobuf LIST
# in pages of 5,000 against 1.74 s in pages of 2,000 (10,000: 1.38 s; unpaged 1.19 s); a page of 5,000 pods is
# about 10 MB. 4,000, not 5,000: at 150,000 pods pages of 5,000 raised a shard's peak RSS by 30-40 MiB to 482 MiB,
# too near the 500 MB a shard is sized for (docs/scaling.md).
PROTOBUF_PAGE_SIZE = 4000
# After a LIST of at least this many objects, freed heap memory is handed back to the OS (glibc's malloc_trim): the
# pages' buffers are freed but glibc keeps the memory otherwise.
TRIM_AFTER_OBJECTS = 10_000


class Reflector(Generic[T]):
    """Mirrors one resource: `store` maps key -> transform(object); callbacks fire on add, update and delete.

    `transform` keeps only what the consumer needs (memory stays proportional to that, not to the object).
    `transform_message`, with `protobuf`, takes a protobuf LIST item itself and must give what `transform` gives for
    its dict; without it such items are turned into dicts (protobuf.to_dict) for `transform`.
    Callbacks run on the event loop and must be quick; they get (key, transformed object).
    With `keep_objects=False` the store stays empty: only each key's resourceVersion is kept (enough to diff a relist
    and skip unchanged objects), for consumers that keep their own copy; deletes then reach `on_forget(key)` only.
    `on_forget` fires on every delete in both modes.
    `synced` is set once the first LIST is in the store; `up` says whether the last call to the API succeeded.
    """

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        transform: Callable[[Obj], T] = _identity,
        transform_message: Callable[[Any], T] | None = None,
        on_add: Callable[[str, T], None] | None = None,
        on_update: Callable[[str, T], None] | None = None,
        on_delete: Callable[[str, T], None] | None = None,
        on_forget: Callable[[str], None] | None = None,
        keep_objects: bool = True,
        namespace: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        page_size: int | None = None,
        owns: Callable[[str], bool] | None = None,
        protobuf: str | None = None,
        watch_timeout_seconds: int = 300,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.client = client
        self.resource = resource
        self.transform = transform
        self.transform_message = transform_message
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete
        self.on_forget = on_forget
        self.keep_objects = keep_objects
        self.namespace = namespace
        self.field_selector = field_selector
        self.label_selector = label_selector
        self.page_size = page_size or (PROTOBUF_PAGE_SIZE if protobuf else PAGE_SIZE)
        self.owns = owns
        self.protobuf = protobuf
        self.watch_timeout_seconds = watch_timeout_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.store: dict[str, T] = {}
        self._versions: dict[str, str] = {}
        self.resource_version: str | None = None
        self.synced = asyncio.Event()
        self.up = False
        self.relists = 0
        self.events: dict[str, int] = {"ADDED": 0, "MODIFIED": 0, "DELETED": 0, "BOOKMARK": 0}
        self.pages: dict[str, int] = {"protobuf": 0, "json": 0}  # LIST pages read, by the encoding of the answer
        self.errors = 0
        # LIST and WATCH calls by result (success/error), as kube-state-metrics counts them.
        self.calls: dict[tuple[str, str], int] = {(op, r): 0 for op in ("list", "watch") for r in ("success", "error")}
        self.last_error: str = ""
        # Objects the transform or a callback raised on (a bug; see _object_failed), and the keys already logged.
        self.object_errors = 0
        self._failing: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._restart = asyncio.Event()

    @property
    def name(self) -> str:
        """The resource's plural name, for logs and metric labels."""
        return self.resource.plural

    def start(self) -> asyncio.Task[None]:
        """Run the list+watch loop in a background task."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"reflector-{self.name}")
        return self._task

    async def stop(self) -> None:
        """Cancel the loop and wait for it."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def wait_synced(self, within: float | None = None) -> bool:
        """True once the first LIST is in the store (False on timeout)."""
        try:
            async with asyncio.timeout(within):
                await self.synced.wait()
        except TimeoutError:
            return False
        return True

    def restart_watch(self, resource_version: str | None = None) -> None:
        """Drop the current watch and resume from resource_version (None: relist). A too-old one forces the 410 path."""
        self.resource_version = resource_version
        self._restart.set()

    def items(self) -> Iterator[tuple[str, T]]:
        """A snapshot of the cache (empty without keep_objects)."""
        return iter(list(self.store.items()))

    def __len__(self) -> int:
        """How many objects are cached (counted by key, also without keep_objects)."""
        return len(self._versions)

    def __contains__(self, key: object) -> bool:
        return key in self._versions

    async def run(self) -> None:
        """List, then watch; relist on 410; back off while the API is unreachable. Runs until cancelled."""
        failures = 0
        while True:
            op = "list"
            try:
                if self.resource_version is None:
                    await self._list()
                    self.calls["list", "success"] += 1
                op = "watch"
                await self._watch()
                failures = 0
            except Gone:
                self.calls[op, "error"] += 1
                log.info("resource version too old; relisting", extra={"kubernetes.resource": self.name})
                self.resource_version = None
                self.relists += 1
            except (aiohttp.ClientError, OSError, TimeoutError, KubeApiError, orjson.JSONDecodeError,
                    ValueError) as exc:  # ValueError: msgspec.DecodeError
                self.calls[op, "error"] += 1
                failures += 1
                self.up = False
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, KubeApiError) and exc.status == 401:
                    await self.client.refresh_credentials()
                delay = min(self.max_backoff_seconds, 0.5 * 2 ** min(failures - 1, 10)) * random.uniform(0.8, 1.2)
                log.warning("kubernetes API call failed; retrying",
                            extra={"kubernetes.resource": self.name, "error.message": self.last_error,
                                   "event.retry_in_s": round(delay, 2)})
                await asyncio.sleep(delay)

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        return params

    async def _list(self) -> None:
        # Each page is applied as it arrives, so the whole LIST is never held in memory as decoded objects (at
        # 10,000 pods that peak was larger than the exporter's steady state); objects missing from the complete
        # list are deleted at the end. The next page is asked for before this one is applied, so the API server
        # encodes it on the other core meanwhile (at most two pages are held).
        path = self.resource.path(self.namespace)
        seen: set[str] = set()
        # Not resourceVersion=0: the watch cache then ignores the limit and answers the whole list at once (at
        # 10,000 pods the exporter's peak RSS doubled, 177 -> 355 MiB, for 0.2 s less sync). A paged list without
        # a version can be served from the watch cache too (consistent reads from cache, on by default lately).
        asked: str | None = None
        pending = asyncio.ensure_future(self._page(path, asked))
        try:
            while True:
                try:
                    page = await pending
                except KubeApiError as exc:
                    if exc.status == 410 and asked:
                        # The continue token expired mid-list: start the whole list again.
                        seen, asked = set(), None
                        pending = asyncio.ensure_future(self._page(path, None))
                        continue
                    raise
                items, version, asked, uid_of, read = page
                asked = asked or None
                del page
                if asked:
                    pending = asyncio.ensure_future(self._page(path, asked))
                    await asyncio.sleep(0)  # let it send the request before this page's work starts
                await self._apply_page(items, seen, uid_of, read)
                del items
                if not asked:
                    break
        finally:
            if not pending.done():
                pending.cancel()
        self.up = True
        self._forget_missing(seen)
        self.resource_version = version
        self.synced.set()
        if len(seen) >= TRIM_AFTER_OBJECTS:
            trim_heap()

    async def _page(self, path: str, cont: str | None) -> tuple[Any, str, str, Callable[[Any], str], Read]:
        """One LIST page: its items, resourceVersion and continue token, and how to read an item's UID and the item
        (raw JSON items, or protobuf messages)."""
        params = {**self._params(), "limit": str(self.page_size)}
        if cont:
            params["continue"] = cont
        if self.protobuf:
            from observe.kube import protobuf

            body = await self.client.get_bytes(path, params=params, seconds=120, accept=protobuf.ACCEPT)
            if body.startswith(protobuf.MAGIC):
                msg = protobuf.decode(self.protobuf, body)
                self.pages["protobuf"] += 1
                read = self._read_message if self.transform_message is not None else self._reader(protobuf.to_dict)
                return msg.items, msg.metadata.resourceVersion, getattr(msg.metadata, "continue"), _message_uid, read
            # The server answered JSON instead (it can't encode this type in protobuf): read it as JSON.
        else:
            body = await self.client.get_bytes(path, params=params, seconds=120)
        page = _decoders()[0].decode(body)
        self.pages["json"] += 1
        return page.items or [], page.metadata.resourceVersion, page.metadata.cont, _raw_uid, self._reader(_raw_obj)

    def _reader(self, to_obj: Callable[[Any], Obj]) -> Read:
        """Read an item as the object's dict, for `transform`."""
        transform = self.transform

        def read(item: Any) -> tuple[str, str, Any, Callable[[Any], T]]:
            obj = to_obj(item)
            return object_key(obj), _version(obj), obj, transform

        return read

    def _read_message(self, item: Any) -> tuple[str, str, Any, Callable[[Any], T]]:
        """Read a protobuf item as itself, for `transform_message`: no dict is built."""
        md = item.metadata
        key = _key(md.namespace, md.name)
        assert self.transform_message is not None  # only set as the reader when there is one
        return key, md.resourceVersion, item, self.transform_message

    async def _apply_page(self, items: Any, seen: set[str], uid_of: Callable[[Any], str], read: Read) -> None:
        owns = self.owns
        for n, item in enumerate(items):
            if owns is not None and not owns(uid_of(item)):
                continue  # another shard's: never decoded whole, never kept
            key, version, thing, transform = read(item)
            seen.add(key)
            self._upsert_item(key, version, thing, transform)
            if n % 100 == 99:
                # Keep the loop responsive (scrapes, other watches): rendering 100 pods takes about 15 ms.
                await asyncio.sleep(0)

    def _forget_missing(self, seen: set[str]) -> None:
        for key in [k for k in self._versions if k not in seen]:
            self._delete(key)

    async def _replace(self, fresh: dict[str, Obj]) -> None:
        """Make the store equal a fresh LIST: deletes for the missing, adds for the new, updates for the changed."""
        self._forget_missing(set(fresh))
        for n, (key, obj) in enumerate(fresh.items()):
            self._upsert(key, obj)
            if n % 500 == 499:
                await asyncio.sleep(0)

    def _upsert(self, key: str, obj: Obj) -> None:
        self._upsert_item(key, _version(obj), obj, self.transform)

    def _upsert_item(self, key: str, version: str, thing: Any, transform: Callable[[Any], T]) -> None:
        """Take one object (its dict, or its protobuf message for transform_message) unless its version is known."""
        if version and self._versions.get(key) == version:
            return  # unchanged since we last saw it (typical after a relist)
        try:
            value = transform(thing)
        except Exception as exc:  # a bug on one object must not stop the resource (see _object_failed)
            self._object_failed(key, exc)
            self._delete(key)  # its old value is stale: forgotten until a version of it is taken
            return
        self._keep(key, version, value)

    def _keep(self, key: str, version: str, value: T) -> None:
        """Store one object's transformed value and call back (add or update)."""
        known = key in self._versions
        if self.keep_objects:
            self.store[key] = value
        self._versions[key] = version
        callback = self.on_update if known else self.on_add
        if callback is not None:
            try:
                callback(key, value)
            except Exception as exc:  # as above
                self._object_failed(key, exc)

    def _object_failed(self, key: str, exc: Exception) -> None:
        """The transform or a callback raised on one object: a bug, which used to leave the list or watch (a
        ValueError relisted forever, anything else ended the task), so no later object of the resource was seen.
        The object is left out and counted (object_errors); the error is logged once per object, with its trace."""
        self.object_errors += 1
        if key in self._failing:
            return
        if len(self._failing) >= 10_000:
            self._failing.clear()
        self._failing.add(key)
        log.error("an object could not be processed; it is left out", exc_info=exc,
                  extra={"kubernetes.resource": self.name, "kubernetes.object": key,
                         "error.message": f"{type(exc).__name__}: {exc}"})

    def _delete(self, key: str) -> None:
        if key not in self._versions:
            return
        del self._versions[key]
        value = self.store.pop(key, None)
        if value is not None and self.on_delete is not None:
            self.on_delete(key, value)
        if self.on_forget is not None:
            self.on_forget(key)

    async def _watch(self) -> None:
        params = {
            **self._params(), "watch": "1", "allowWatchBookmarks": "true",
            "timeoutSeconds": str(int(self.watch_timeout_seconds * random.uniform(1.0, 1.5))),
        }
        if self.resource_version:
            params["resourceVersion"] = self.resource_version
        self._restart.clear()
        stream = self._consume(params)
        restart = asyncio.ensure_future(self._restart.wait())
        watch = asyncio.ensure_future(stream)
        try:
            done, _ = await asyncio.wait({restart, watch}, return_when=asyncio.FIRST_COMPLETED)
            if watch in done:
                watch.result()
        finally:
            for fut in (restart, watch):
                if not fut.done():
                    fut.cancel()
                    try:
                        await fut
                    except (asyncio.CancelledError, Exception):  # the watch is being abandoned
                        pass

    def _watch_opened(self) -> None:
        self.calls["watch", "success"] += 1

    async def _consume(self, params: dict[str, str]) -> None:
        path = self.resource.path(self.namespace)
        # Bookmarks arrive about once a minute; a silent stream longer than the server timeout is dead.
        read_timeout = float(params["timeoutSeconds"]) + 30
        n = 0
        try:
            async for line in self.client.stream_lines(path, params=params, read_timeout=read_timeout,
                                                       opened=self._watch_opened):
                self.up = True
                event = orjson.loads(line)
                self._apply(event)
                n += 1
                if n % 200 == 0:
                    await asyncio.sleep(0)
        except KubeApiError as exc:
            if exc.status == 410:
                raise Gone() from None
            raise

    def _apply(self, event: Obj) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise KubeApiError(int(obj.get("code") or 500), str(obj.get("message")), self.resource.path(self.namespace))
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind in self.events:
            self.events[kind] += 1
        if self.owns is not None and kind != "BOOKMARK" and not self.owns(str((obj.get("metadata") or {}).get("uid") or "")):
            pass  # another shard's object
        elif kind == "ADDED" or kind == "MODIFIED":
            self._upsert(object_key(obj), obj)
        elif kind == "DELETED":
            self._delete(object_key(obj))
        if version:
            self.resource_version = str(version)
