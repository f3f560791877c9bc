"""Validate pipeline files against schemas/pipeline.schema.json, as an editor would.

Usage: pipeline_schema_check.py SCHEMA PIPELINE.toml...

Each pipeline is read with tomllib (TOML -> the JSON data model) and must be valid. Then
variants of the first one that marsad refuses (an unknown key at each level, a keyword that
does not exist, a missing required key, a delimiter of two characters) must be invalid too, so
that the schema is known to catch what it is there to catch. The schema itself is checked
against its meta-schema (draft 7) first.
"""

import copy
import json
import sys
import tomllib

import jsonschema


def errors(validator, document):
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def main(schema_path, pipelines):
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    failed = 0
    documents = []
    for path in pipelines:
        with open(path, "rb") as f:
            document = tomllib.load(f)
        documents.append(document)
        found = errors(validator, document)
        if found:
            failed += 1
            print(f"FAIL {path}: not valid against {schema_path}")
            for line in found:
                print(f"  {line}")
        else:
            print(f"ok   {path}")

    refusals = 0

    def variant(name, change, expected):
        """A copy of the first pipeline changed by `change`, which the schema must refuse with
        an error mentioning `expected`."""
        nonlocal failed, refusals
        refusals += 1
        document = copy.deepcopy(documents[0])
        change(document)
        found = errors(validator, document)
        if any(expected in line for line in found):
            print(f"ok   refused: {name}")
        else:
            failed += 1
            print(f"FAIL accepted: {name} (errors: {found})")

    def first_source(d):
        return d["source"][0]

    variant("an unknown top-level key", lambda d: d.update(nmae="x"), "'nmae' was unexpected")
    variant(
        "an unknown key in a [[source]]",
        lambda d: first_source(d).update(sheet="1"),
        "'sheet' was unexpected",
    )
    variant(
        "an unknown key in a [source.dialect]",
        lambda d: first_source(d).setdefault("dialect", {}).update(separator=";"),
        "'separator' was unexpected",
    )
    variant(
        "an unknown key in a measure",
        lambda d: d["table"][0]["measures"][0].update(aggregate="count"),
        "'aggregate' was unexpected",
    )
    variant(
        "an unknown output format",
        lambda d: d.setdefault("output", [{"dir": "out"}])[0].update(formats=["csv"]),
        "'csv' is not one of",
    )
    variant("a pipeline without a name", lambda d: d.pop("name"), "'name' is a required property")
    variant(
        "a delimiter of two characters",
        lambda d: first_source(d).setdefault("dialect", {}).update(delimiter=";;"),
        "does not match",
    )
    variant("max_rejected above 1", lambda d: d.update(max_rejected=5), "greater than the maximum")

    print(
        f"pipeline schema: {len(pipelines)} pipelines and {refusals} refusals checked, {failed} failed"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
