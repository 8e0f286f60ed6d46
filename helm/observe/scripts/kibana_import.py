"""Import the rendered Kibana saved objects (data view, saved searches) through Kibana's _import API.

Run by the chart's import Job: KIBANA_URL, optional KIBANA_SPACE, KIBANA_USERNAME/KIBANA_PASSWORD
(from a referenced Secret), KIBANA_VERIFY_CERTS, and the NDJSON files given as arguments.
Overwrites objects with the same id, so re-running on every upgrade is safe.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

RETRY_FOR_SECONDS = 300.0


def import_url(base: str, space: str) -> str:
    """The _import endpoint of a space (the default space has no /s/<id> prefix)."""
    prefix = f"/s/{space}" if space and space != "default" else ""
    return f"{base.rstrip('/')}{prefix}/api/saved_objects/_import?overwrite=true"


def multipart(name: str, content: bytes, boundary: str) -> bytes:
    """A multipart/form-data body with one `file` field, as the _import API takes."""
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/ndjson\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode()


def request(url: str, name: str, content: bytes, username: str, password: str) -> urllib.request.Request:
    """The import request: multipart body, the kbn-xsrf header Kibana demands, basic auth when given."""
    boundary = uuid.uuid4().hex
    headers = {"kbn-xsrf": "observe", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    if username:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return urllib.request.Request(url, data=multipart(name, content, boundary), method="POST", headers=headers)


def main(paths: list[str]) -> int:
    """Import every file; retry while Kibana is starting; exit 1 on a refused import."""
    url = import_url(os.environ["KIBANA_URL"], os.environ.get("KIBANA_SPACE", ""))
    context = ssl.create_default_context()
    if os.environ.get("KIBANA_VERIFY_CERTS", "true") == "false":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    user, password = os.environ.get("KIBANA_USERNAME", ""), os.environ.get("KIBANA_PASSWORD", "")
    for path in paths:
        file = Path(path)
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            try:
                with urllib.request.urlopen(request(url, file.name, file.read_bytes(), user, password),
                                            timeout=60, context=context) as resp:
                    result = json.loads(resp.read())
                break
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    print(f"{file.name}: Kibana refused the import ({exc.code}): {exc.read()[:2000]!r}", file=sys.stderr)
                    return 1
                error = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                error = str(exc)
            if time.monotonic() > deadline:
                print(f"{file.name}: Kibana at {url} not reachable for {RETRY_FOR_SECONDS:.0f}s: {error}", file=sys.stderr)
                return 1
            time.sleep(5)
        if not result.get("success"):
            print(f"{file.name}: import reported errors: {json.dumps(result.get('errors'))[:4000]}", file=sys.stderr)
            return 1
        print(f"{file.name}: imported {result.get('successCount', 0)} objects")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
