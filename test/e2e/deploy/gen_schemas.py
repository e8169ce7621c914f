#!/usr/bin/env python3
"""Generates kubeconform JSON schemas offline, strict (unknown fields rejected).

From Kubernetes' OpenAPI v2 document (api/openapi-spec/swagger.json of the k8s.io/kubernetes
module) it writes one file per kind, named as kubeconform's default registry names them
(`{{ .ResourceKind }}{{ .KindSuffix }}.json`, e.g. daemonset-apps-v1.json), each a $ref into a
shared _definitions.json. From CustomResourceDefinition YAML it writes the openAPIV3Schema of
each served version the same way (servicemonitor-monitoring-v1.json, ...).

Strict means what kubeconform's published "-strict" schemas mean: every object with declared
properties gets additionalProperties: false, so a misspelt field fails validation.
"""
import argparse
import json
import os
import sys

import yaml

INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}


def strictify(schema):
    """Makes one schema strict in place, walking only keywords that hold sub-schemas (a
    property may be *named* "format" or "properties": those names are not keywords)."""
    if not isinstance(schema, dict):
        return schema
    if schema.get("format") == "int-or-string" or schema.get("x-kubernetes-int-or-string") is True:
        desc = schema.get("description")
        schema.clear()
        schema.update(INT_OR_STRING)
        if desc:
            schema["description"] = desc
        return schema
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        schema["additionalProperties"] = False
    for key in ("properties", "patternProperties", "definitions"):
        for sub in schema.get(key, {}).values():
            strictify(sub)
    for key in ("items", "additionalProperties", "not", "additionalItems"):
        sub = schema.get(key)
        if isinstance(sub, list):
            for s in sub:
                strictify(s)
        else:
            strictify(sub)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            strictify(sub)
    return schema


def kind_suffix(group, version):
    # Mirrors kubeconform's registry.schemaPath: first label of the group, then version.
    if not group:
        return "-" + version.lower()
    return "-" + group.split(".")[0].lower() + "-" + version.lower()


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swagger", required=True)
    ap.add_argument("--crd", action="append", default=[])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    with open(args.swagger) as f:
        swagger = json.load(f)
    defs = swagger["definitions"]
    defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = dict(INT_OR_STRING)
    defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = dict(QUANTITY)
    for d in defs.values():
        strictify(d)
    write(os.path.join(args.out, "_definitions.json"), {"definitions": defs})
    kinds = 0
    for name, d in defs.items():
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            fname = gvk["kind"].lower() + kind_suffix(gvk["group"], gvk["version"]) + ".json"
            write(os.path.join(args.out, fname),
                  {"$ref": "_definitions.json#/definitions/" + name})
            kinds += 1

    for crd_path in args.crd:
        with open(crd_path) as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for v in spec["versions"]:
                    schema = v.get("schema", {}).get("openAPIV3Schema")
                    if not schema:
                        continue
                    fname = (spec["names"]["kind"].lower()
                             + kind_suffix(spec["group"], v["name"]) + ".json")
                    write(os.path.join(args.out, fname), strictify(schema))
                    kinds += 1
    if kinds < 50:
        sys.exit("gen_schemas: only %d kinds generated, inputs look wrong" % kinds)
    print("gen_schemas: %d kind schemas in %s" % (kinds, args.out))


if __name__ == "__main__":
    main()
