"""Write tests/vectors/messages_v1_schema.json: the frozen v1 schema of every message type.

Messages were frozen as version 1 at the end of issue #10. Every field (name, order,
kind with its bounds), the signer, the sync partition, the size limit and the
signing domain are recorded here; tests/test_messages.py fails on any difference,
so a change to a v1 message cannot land without a version bump and a new file.
Run: python tests/vectors/make_messages_schema.py
"""

from __future__ import annotations

import json
from pathlib import Path

from coverage_net.messages import MESSAGE_TYPES
from coverage_net.messages._base import _schema

OUT = Path(__file__).with_name("messages_v1_schema.json")


def render() -> str:
    types = {}
    for name, cls in sorted(MESSAGE_TYPES.items()):
        types[name] = {
            "version": cls.VERSION, "class": cls.__name__, "signer": cls.SIGNER,
            "domain": cls.DOMAIN.decode("ascii"), "max_bytes": cls.MAX_BYTES,
            "partition_field": cls.PARTITION_FIELD, "partition_bucket": cls.PARTITION_BUCKET,
            "fields": [[field, repr(kind)] for field, kind in _schema(cls).items()],
        }
    doc = {"description": "coverage-net message schemas, version 1 (frozen); regenerate with "
                          "tests/vectors/make_messages_schema.py only together with a version "
                          "bump",
           "types": types}
    return json.dumps(doc, indent=1) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
