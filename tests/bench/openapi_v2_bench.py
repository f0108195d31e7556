"""OpenAPI v2 document: time to build and size of the JSON and protobuf forms, and a CRD-change rebuild.

Run: ``.venv/bin/python tests/bench/openapi_v2_bench.py [--rounds N] [--crds N]``

What the API server does on the first /openapi/v2 request and after every CRD change:

* ``json``: build the document from the resource table (``OpenAPIService.v2()``) and serialize it;
* ``protobuf first``: encode it as gnostic's ``openapi.v2.Document`` with nothing remembered;
* ``protobuf after CRD``: a CRD was added; only its definitions and paths are encoded anew, the rest
  are copied from the previous document (``v2_protobuf.DocumentEntries``);
* ``parse (floor)``: protobuf's C parser reading the bytes back (what a client pays; a floor for
  any encoder in Python).

Each time is the median of ``--rounds`` runs; sizes are raw and gzip (what goes on the wire to kubectl).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from dataclasses import dataclass

import orjson

from kubelite.api.openapi import openapiv2_pb2, v2_protobuf
from kubelite.controlplane.apiserver.crds import infos_for_crd, openapi_schemas
from kubelite.controlplane.apiserver.openapi_service import OpenAPIService
from kubelite.controlplane.apiserver.resources import ResourceTable


@dataclass
class Figure:
    name: str
    seconds: float
    size: int = 0
    gzip_size: int = 0

    def line(self) -> str:
        sizes = f"  {self.size / 1024:8.1f} KiB  gzip {self.gzip_size / 1024:7.1f} KiB" if self.size else ""
        return f"{self.name:<34} {self.seconds * 1000:9.1f} ms{sizes}"


def crd(index: int) -> dict[str, object]:
    return {"metadata": {"name": f"things{index}.bench.example.com"},
            "spec": {"group": "bench.example.com", "scope": "Namespaced",
                     "names": {"plural": f"things{index}", "kind": f"Thing{index}"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "properties": {"spec": {"type": "object", "properties": {
                             "size": {"type": "integer"}, "note": {"type": "string", "nullable": True}}}}}}}]}}


def median_time(action: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--crds", type=int, default=20, help="CRDs installed before the measured CRD change")
    args = parser.parse_args(argv)

    service = OpenAPIService(ResourceTable())
    custom: dict[str, dict[str, object]] = {}
    for index in range(args.crds):
        (info,) = infos_for_crd(crd(index))
        service.table.add(info)
        custom.update(openapi_schemas(info))
    service.set_custom_schemas(custom)

    def build_json() -> bytes:
        service.invalidate()
        return orjson.dumps(service.v2())

    json_seconds = median_time(build_json, args.rounds)
    document = service.v2()
    json_body = orjson.dumps(document)
    proto_seconds = median_time(lambda: v2_protobuf.encode_document(document), args.rounds)
    proto_body = v2_protobuf.encode_document(document)

    def crd_change() -> None:
        # the previous document's entries are remembered; one CRD more, then the whole path a request takes
        entries = v2_protobuf.DocumentEntries()
        v2_protobuf.encode_document(document, previous=entries)
        (info,) = infos_for_crd(crd(args.crds))
        service.table.add(info)
        service.set_custom_schemas({**custom, **openapi_schemas(info)})
        changed = service.v2()
        started = time.perf_counter()
        v2_protobuf.encode_document(changed, previous=entries)
        crd_times.append(time.perf_counter() - started)
        service.table.remove(info.group, info.version, info.plural)
        service.set_custom_schemas(custom)

    crd_times: list[float] = []
    for _ in range(args.rounds):
        crd_change()
    parse_seconds = median_time(lambda: openapiv2_pb2.Document.FromString(proto_body), args.rounds)

    figures = [
        Figure(f"json ({len(document['definitions'])} definitions)", json_seconds, len(json_body),
               len(gzip.compress(json_body))),
        Figure(f"protobuf first ({len(document['paths'])} paths)", proto_seconds, len(proto_body),
               len(gzip.compress(proto_body))),
        Figure("protobuf after CRD change", statistics.median(crd_times)),
        Figure("parse (floor)", parse_seconds),
    ]
    print(f"OpenAPI v2, {args.crds} CRDs installed, median of {args.rounds} rounds")
    for figure in figures:
        print(figure.line())
    print(f"protobuf/json size ratio {len(proto_body) / len(json_body):.2f}; "
          f"CRD-change rebuild / first build {figures[2].seconds / figures[1].seconds:.2f}")
    return figures


if __name__ == "__main__":
    main()
