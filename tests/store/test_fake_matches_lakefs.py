"""The fake lakeFS answers as the real server does, for every call ``LakeFSStore`` makes.

One script of raw API requests, good and bad, runs against the fake and against the real server
(``make lakefs``); the two must give the same status for every request. So nothing the fake
accepts is refused by lakeFS, and nothing lakeFS refuses is accepted by the fake. Every route the
fake implements is in the script, with the edge cases of its inputs: names, paths, bodies, pages,
protection, merges. README ("Where the fake and lakeFS differed") lists what this found.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import urllib3

from tests.lakefs_fake import FakeLakeFS
from tests.lakefs_fake.server import MAX_PAGE_SIZE
from tests.lakefs_service import LakeFSService, fake_service, real_service

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))


@dataclass
class Client:
    service: LakeFSService

    def call(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        payload: object = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        token = base64.b64encode(
            f"{self.service.access_key_id}:{self.service.secret_access_key}".encode()
        ).decode()
        sent = {"Authorization": f"Basic {token}", **(headers or {})}
        if payload is not None:
            body = json.dumps(payload).encode()
            sent["Content-Type"] = "application/json"
        url = f"{self.service.endpoint}/api/v1{path}" + (f"?{urlencode(query)}" if query else "")
        answer = HTTP.request(method, url, body=body, headers=sent)
        return answer.status, answer.data, dict(answer.headers)


def script(client: Client, repository: str, other: str) -> list[tuple[str, int]]:
    """Every request LakeFSStore's routes take, and the status each got, in order."""
    results: list[tuple[str, int]] = []
    repo = f"/repositories/{repository}"

    def step(label: str, *args: object, **kwargs: object) -> tuple[int, bytes, dict[str, str]]:
        status, data, headers = client.call(*args, **kwargs)
        results.append((label, status))
        return status, data, headers

    def object_path(path: str) -> dict[str, str]:
        return {"path": path}

    # Repositories: names, namespaces, the creation race's two answers.
    step("create repository", "POST", "/repositories", payload=_repo(repository))
    step("create it again", "POST", "/repositories", payload=_repo(repository))
    step("another repository on its namespace", "POST", "/repositories", payload=_repo(other, repository))
    for name in ("ab", "Upper-case", "-leading-dash", "under_score", "x" * 64, "dots.in.name"):
        step(f"repository name {name[:12]!r}", "POST", "/repositories", payload=_repo(name))
    for namespace in ("no-scheme", "ftp://elsewhere", ""):
        step(f"namespace {namespace!r}", "POST", "/repositories", payload=_repo(other, namespace=namespace))
    step("get repository", "GET", repo)
    step("get a missing repository", "GET", "/repositories/no-such-repository")

    # Branches: the names lakeFS takes and refuses, sources, deletion.
    for name in (
        "wap-run-1-raw-flights",
        "a",
        "_under",
        "-dash",
        "has/slash",
        "has.dot",
        "has space",
        "ü",
        "x" * 300,
    ):
        step(
            f"branch name {name[:12]!r}", "POST", f"{repo}/branches", payload={"name": name, "source": "main"}
        )
    step("branch from a missing source", "POST", f"{repo}/branches", payload={"name": "b2", "source": "nope"})
    step("branch that exists", "POST", f"{repo}/branches", payload={"name": "a", "source": "main"})
    step("get branch", "GET", f"{repo}/branches/a")
    step("get a missing branch", "GET", f"{repo}/branches/nope")
    step("list branches", "GET", f"{repo}/branches", {"amount": "1"})
    step("list branches, a page too large", "GET", f"{repo}/branches", {"amount": str(MAX_PAGE_SIZE + 1)})
    step("list branches, negative amount", "GET", f"{repo}/branches", {"amount": "-1"})
    step("delete the default branch", "DELETE", f"{repo}/branches/main")
    step("delete a missing branch", "DELETE", f"{repo}/branches/nope")
    step("delete a branch", "DELETE", f"{repo}/branches/_under")
    step("branches in a missing repository", "GET", "/repositories/no-such-repository/branches")

    # Objects: paths and bodies.
    upload = f"{repo}/branches/a/objects"
    for path in (
        "t/date=2013-01-01/data.parquet",
        "ünï/cødé.txt",
        "../escape",
        "/leading",
        "a//b",
        "x" * 1024,
    ):
        step(f"upload {path[:16]!r}", "POST", upload, object_path(path), body=b"bytes", headers=_octets())
    step("upload without a path", "POST", upload, body=b"bytes", headers=_octets())
    step("upload an empty path", "POST", upload, object_path(""), body=b"bytes", headers=_octets())
    step("upload empty content", "POST", upload, object_path("empty"), body=b"", headers=_octets())
    step("upload to a missing branch", "POST", f"{repo}/branches/nope/objects", object_path("x"), body=b"x")
    step("read", "GET", f"{repo}/refs/a/objects", object_path("t/date=2013-01-01/data.parquet"))
    step("read a missing object", "GET", f"{repo}/refs/a/objects", object_path("nope"))
    step("read at a missing ref", "GET", f"{repo}/refs/nope/objects", object_path("x"))
    step("stat", "GET", f"{repo}/refs/a/objects/stat", object_path("empty"))
    step("stat a missing object", "GET", f"{repo}/refs/a/objects/stat", object_path("nope"))
    step("list objects", "GET", f"{repo}/refs/a/objects/ls", {"prefix": "t/", "delimiter": "", "amount": "1"})
    step("list objects, a page too large", "GET", f"{repo}/refs/a/objects/ls", {"amount": "1001"})
    step("list objects at a missing ref", "GET", f"{repo}/refs/nope/objects/ls", {"delimiter": ""})
    step("delete a missing object", "DELETE", upload, object_path("nope"))
    step("delete an object", "DELETE", upload, object_path("empty"))

    # Commits.
    commits = f"{repo}/branches/a/commits"
    step("commit with non-string metadata", "POST", commits, payload={"message": "m", "metadata": {"k": 1}})
    step("commit without a message", "POST", commits, payload={"metadata": {}})
    step("commit an empty message", "POST", commits, payload={"message": ""})
    status, data, _ = step("commit", "POST", commits, payload={"message": "m", "metadata": {"k": "v"}})
    commit_id = json.loads(data)["id"] if status == 201 else "missing"
    step("commit with nothing staged", "POST", commits, payload={"message": "again"})
    step("commit on a missing branch", "POST", f"{repo}/branches/nope/commits", payload={"message": "m"})
    step("get commit", "GET", f"{repo}/commits/{commit_id}")
    step("get a missing commit", "GET", f"{repo}/commits/{'0' * 64}")
    step("get a commit by a branch name", "GET", f"{repo}/commits/a")
    step("log", "GET", f"{repo}/refs/a/commits", {"amount": "1"})
    step("log, a page too large", "GET", f"{repo}/refs/a/commits", {"amount": "1001"})
    step("log of a missing ref", "GET", f"{repo}/refs/nope/commits")
    step(
        "read at the commit",
        "GET",
        f"{repo}/refs/{commit_id}/objects",
        object_path("t/date=2013-01-01/data.parquet"),
    )

    # Diffs and merges.
    step("diff two-dot", "GET", f"{repo}/refs/main/diff/a", {"type": "two_dot", "delimiter": ""})
    step("diff three-dot", "GET", f"{repo}/refs/main/diff/a", {"type": "three_dot", "delimiter": ""})
    step("diff of an unknown type", "GET", f"{repo}/refs/main/diff/a", {"type": "four_dot"})
    step("diff with a missing ref", "GET", f"{repo}/refs/main/diff/nope", {"type": "two_dot"})
    merge = f"{repo}/refs/a/merge/main"
    step("merge with non-string metadata", "POST", merge, payload={"message": "m", "metadata": {"k": 1}})
    step("merge", "POST", merge, payload={"message": "publish", "metadata": {"k": "v"}})
    step("merge again, nothing new", "POST", merge, payload={"message": "publish"})
    step("merge from a missing ref", "POST", f"{repo}/refs/nope/merge/main", payload={})
    step("merge into a missing branch", "POST", f"{repo}/refs/a/merge/nope", payload={})
    client.call("POST", f"{repo}/branches", payload={"name": "c1", "source": "main"})
    client.call("POST", f"{repo}/branches", payload={"name": "c2", "source": "main"})
    for branch, content in (("c1", b"one"), ("c2", b"two")):
        client.call(
            "POST", f"{repo}/branches/{branch}/objects", object_path("same"), body=content, headers=_octets()
        )
        client.call("POST", f"{repo}/branches/{branch}/commits", payload={"message": branch})
    step("merge c1", "POST", f"{repo}/refs/c1/merge/main", payload={})
    step("merge c2, a conflict", "POST", f"{repo}/refs/c2/merge/main", payload={})
    client.call("POST", f"{repo}/branches/c1/objects", object_path("staged"), body=b"s", headers=_octets())
    step("merge into a branch with staged changes", "POST", f"{repo}/refs/main/merge/c1", payload={})

    # Branch protection.
    protection = f"{repo}/settings/branch_protection"
    step("get rules", "GET", protection)
    step("set an empty pattern", "PUT", protection, payload=[{"pattern": ""}])
    step(
        "set a rule with a wrong If-Match",
        "PUT",
        protection,
        payload=[{"pattern": "main"}],
        headers={"If-Match": '"stale"'},
    )
    _, _, headers = client.call("GET", protection)
    step(
        "set a rule",
        "PUT",
        protection,
        payload=[{"pattern": "main"}],
        headers={"If-Match": headers.get("ETag", "")},
    )
    step(
        "write to the protected branch",
        "POST",
        f"{repo}/branches/main/objects",
        object_path("x"),
        body=b"x",
        headers=_octets(),
    )
    step("delete an object on it", "DELETE", f"{repo}/branches/main/objects", object_path("same"))
    step("commit on it", "POST", f"{repo}/branches/main/commits", payload={"message": "direct"})
    step("merge into it", "POST", f"{repo}/refs/a/merge/main", payload={"message": "still allowed"})
    client.call("POST", f"{repo}/branches", payload={"name": "wap-2", "source": "main"})
    client.call("POST", f"{repo}/branches/wap-2/objects", object_path("new"), body=b"n", headers=_octets())
    client.call("POST", f"{repo}/branches/wap-2/commits", payload={"message": "staged"})
    step("publish by merge into it", "POST", f"{repo}/refs/wap-2/merge/main", payload={"message": "publish"})
    step(
        "rules in a missing repository", "GET", "/repositories/no-such-repository/settings/branch_protection"
    )
    return results


def _repo(name: str, namespace: str | None = None) -> dict[str, str]:
    return {
        "name": name,
        "storage_namespace": f"local://{name}" if namespace is None else namespace,
        "default_branch": "main",
    }


def _octets() -> dict[str, str]:
    return {"Content-Type": "application/octet-stream"}


def test_the_fake_answers_every_call_as_lakefs_does(real_lakefs_server) -> None:
    suffix = uuid.uuid4().hex[:8]
    repository, other = f"diff-{suffix}", f"diff-other-{suffix}"
    real = script(Client(real_service(real_lakefs_server)), repository, other)
    with FakeLakeFS() as fake:
        faked = script(Client(fake_service(fake)), repository, other)
    assert [label for label, _ in real] == [label for label, _ in faked]
    differences = [
        f"{label}: lakeFS {real_status}, fake {fake_status}"
        for (label, real_status), (_, fake_status) in zip(real, faked, strict=True)
        if real_status != fake_status
    ]
    assert differences == [], "the fake and lakeFS differ:\n" + "\n".join(differences)
