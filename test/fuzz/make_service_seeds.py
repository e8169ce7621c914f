#!/usr/bin/env python3
"""Writes the seed corpus of gpu_service_fuzzer (corpus/gpu_service/).

Each seed is a sequence of calls in the fuzzer's framing: one method byte,
a 2-byte little-endian length, the request in protobuf wire format (encoded
by protoc from the text format below). The fuzzer's store starts at
revision 1000, so the first write takes 1001. Run from anywhere; needs protoc.
"""
import pathlib
import struct
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
PROTO_DIR = HERE.parent.parent / "api"
OUT = HERE / "corpus" / "gpu_service"
PKG = "nvidia.nvsentinel.v1alpha1."
METHODS = {  # the fuzzer's method numbers and request messages
    "Get": (0, "GetGpuRequest"), "List": (1, "ListGpusRequest"),
    "Watch": (2, "WatchGpusRequest"), "Create": (3, "CreateGpuRequest"),
    "Update": (4, "UpdateGpuRequest"), "UpdateStatus": (5, "UpdateGpuStatusRequest"),
    "Delete": (6, "DeleteGpuRequest"), "Patch": (7, "PatchGpuRequest"),
}


def encode(message, text):
    return subprocess.run(
        ["protoc", f"--proto_path={PROTO_DIR}", "--proto_path=/usr/include",
         f"--encode={PKG}{message}", "device_api.proto"],
        input=text.encode(), capture_output=True, check=True).stdout


def call(method, text="", raw=None):
    number, message = METHODS[method]
    body = raw if raw is not None else encode(message, text)
    return bytes([number]) + struct.pack("<H", len(body)) + body


def gpu(name, uuid, extra=""):
    return (f'gpu {{ metadata {{ name: "{name}" {extra} }} '
            f'spec {{ uuid: "{uuid}" }} }}')


UUID0 = "GPU-00000000-0000-0000-0000-000000000000"
UUID1 = "GPU-11111111-2222-3333-4444-555555555555"
READY = ('status { conditions { type: "Ready" status: "True" reason: "Healthy" '
         'message: "0" } }')

SEEDS = {
    "patch_merge_and_strategic": [
        call("Create", gpu("gpu-0", UUID0)),
        call("Patch", 'name: "gpu-0" patch_type: "application/merge-patch+json" '
             'data: "{\\"metadata\\":{\\"labels\\":{\\"zone\\":\\"a\\"}}}"'),
        call("Patch", 'name: "gpu-0" patch_type: "application/strategic-merge-patch+json" '
             'subresource: "status" data: "{\\"status\\":{\\"conditions\\":[{\\"type\\":'
             '\\"Ready\\",\\"status\\":\\"False\\",\\"reason\\":\\"Xid\\"}]}}"'),
        call("Patch", 'name: "gpu-0" patch_type: "application/json-patch+json" data: "[]"'),
    ],
    "create_get": [
        call("Create", gpu("gpu-0", UUID0, 'labels { key: "a" value: "b" }')),
        call("Get", 'name: "gpu-0"'),
        call("Get", 'name: "gpu-0" namespace: "default" opts { resource_version: "1001" }'),
        call("Get", 'name: "gpu-0" opts { resource_version: "1002" }'),  # future: OUT_OF_RANGE
    ],
    "status_compare_and_swap": [
        call("Create", gpu("gpu-0", UUID0)),
        call("UpdateStatus", 'gpu { metadata { name: "gpu-0" resource_version: "1001" } '
             + READY + " }"),
        call("UpdateStatus", 'gpu { metadata { name: "gpu-0" resource_version: "1001" } '
             + READY.replace('"0"', '"1"') + " }"),  # stale: ABORTED
        call("UpdateStatus", 'gpu { metadata { name: "gpu-0" } status { conditions { '
             'type: "example.com/XidHealthy" status: "False" reason: "Xid79" '
             'last_transition_time { seconds: 1700000000 } observed_generation: 1 } '
             'recommended_action: "RESTART_BM" device_info { product_name: "H200" '
             'memory_total_bytes: 150000000000 index: 3 } } }'),
    ],
    "update_spec_labels": [
        call("Create", gpu("gpu-0", UUID0)),
        call("Update", gpu("gpu-0", UUID0, 'resource_version: "1001" '
                           'labels { key: "nvidia.com/model" value: "h200" } '
                           'annotations { key: "note" value: "x" }')),
        call("Update", gpu("gpu-0", UUID1)),  # spec change: generation 2
        call("Update", 'gpu { metadata { name: "gpu-0" uid: "changed" } }'),  # immutable
    ],
    "list_selectors": [
        call("Create", gpu("gpu-0", UUID0, 'labels { key: "nvidia.com/model" value: "h200" }')),
        call("Create", gpu(UUID1.lower(), UUID1, 'namespace: "other" '
                           'labels { key: "drain" value: "" }')),
        call("List", 'opts { label_selector: "nvidia.com/model in (h200,b200),!drain" }'),
        call("List", 'namespace: "other" opts { label_selector: "drain,x!=y,z notin (a)" }'),
        call("List", 'opts { resource_version: "1001" resource_version_match: "Exact" }'),
        call("List", 'opts { resource_version: "1" resource_version_match: "Exact" }'),
        call("List", 'opts { resource_version: "1001" resource_version_match: "NotOlderThan" }'),
        call("List", 'opts { resource_version: "99999" }'),
    ],
    "watch": [
        call("Create", gpu("gpu-0", UUID0)),
        call("Watch", 'opts { send_initial_events: true allow_watch_bookmarks: true }'),
        call("Watch", 'opts { resource_version: "1000" label_selector: "a=b" }'),
        call("Watch", 'opts { resource_version: "5" }'),  # too old
        call("Watch", 'namespace: "default" opts { timeout_seconds: 1 }'),
        call("Watch", 'opts { resource_version: "1001" resource_version_match: "Exact" }'),
    ],
    "delete_preconditions": [
        call("Create", gpu("gpu-0", UUID0)),
        call("Delete", 'name: "gpu-0" opts { preconditions { uid: "not-the-uid" } }'),
        call("Delete", 'name: "gpu-0" opts { preconditions { resource_version: "1000" } }'),
        call("Delete", 'name: "gpu-0" opts { preconditions { resource_version: "1001" } }'),
        call("Get", 'name: "gpu-0"'),  # NOT_FOUND
    ],
    "invalid_requests": [
        call("Create", gpu("Not_A_Name", "GPU-xyz")),
        call("Create", 'gpu { metadata { name: "gpu-1" namespace: "Bad" } spec { uuid: "'
             + UUID1 + '" } status { conditions { type: "Ready" status: "True" } '
             'conditions { type: "Ready" status: "Maybe" reason: "lower" } } }'),
        call("Get", 'name: "gpu-0" opts { resource_version: "-1" }'),
        call("List", 'opts { label_selector: "a in (" resource_version_match: "Exact" }'),
        call("UpdateStatus", 'gpu { metadata { name: "gpu-0" resource_version: "x" } }'),
        call("Delete", 'name: ""'),
        call("Get", raw=b"\x0a\x05\xff\xfe\xfd\xfc\xfb"),  # invalid UTF-8 in name
        call("List", raw=b"\x12\x03\x0a\x80"),  # truncated
    ],
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, calls in SEEDS.items():
        (OUT / name).write_bytes(b"".join(calls))


if __name__ == "__main__":
    main()
