#!/usr/bin/env python3
"""README values table <-> values.yaml <-> values.schema.json, both ways.

- every key in the README table exists in values.yaml, with the default the table states;
- every leaf of values.yaml is covered by a row (its own, or a parent's row for maps/lists);
- rows are not duplicated; every top-level key and every row's path is typed in the schema.
"""
import json
import os
import re

import yaml

from deploytest import CHART, Failures

F = Failures("values_table_test")


def table_rows(readme):
    rows = []
    in_values = False
    for line in open(readme):
        if line.startswith("## "):
            in_values = line.strip() == "## Values"
        if in_values and line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            key = cells[0].strip("`")
            default = cells[2]
            rows.append((key, default))
    return rows


def lookup(values, path):
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def leaves(node, prefix=""):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from leaves(v, prefix + k + ".")
    else:
        yield prefix[:-1], node


def parse_default(cell):
    m = re.fullmatch(r"`(.*)`", cell)
    if not m:
        return None, False
    text = m.group(1)
    try:
        return json.loads(text), True
    except ValueError:
        return text, True  # bare strings are written without quotes


def schema_has(schema, path):
    node = schema
    for part in path.split("."):
        props = node.get("properties", {})
        if part not in props:
            return False
        node = props[part]
    return True


def main():
    readme = os.path.join(CHART, "README.md")
    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)
    rows = table_rows(readme)
    F.check(len(rows) >= 30, "README values table has only %d rows" % len(rows))
    keys = [k for k, _ in rows]
    F.check(len(keys) == len(set(keys)), "duplicate rows: %s" %
            sorted({k for k in keys if keys.count(k) > 1}))

    for key, cell in rows:
        try:
            actual = lookup(values, key)
        except KeyError:
            F.check(False, "README documents %s, which values.yaml does not have" % key)
            continue
        want, ok = parse_default(cell)
        if F.check(ok, "%s: default cell %r is not `code`" % (key, cell)):
            F.check(want == actual, "%s: README default %r, values.yaml has %r" % (key, want, actual))
        F.check(schema_has(schema, key), "%s is not in values.schema.json" % key)

    documented = set(keys)
    for leaf, _ in leaves(values):
        parts = leaf.split(".")
        covered = any(".".join(parts[:i]) in documented for i in range(1, len(parts) + 1))
        F.check(covered, "values.yaml key %s is not in the README values table" % leaf)

    # The schema is closed: a top-level value the schema does not know is refused by helm;
    # the same must hold for anything values.yaml has.
    for top in values:
        F.check(top in schema.get("properties", {}), "%s missing from values.schema.json" % top)
    F.finish()


if __name__ == "__main__":
    main()
