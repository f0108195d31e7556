#!/usr/bin/env python3
"""Write kubelite/api/protobuf/schema.json.gz from upstream Kubernetes's ``generated.proto`` files.

Inputs (Kubernetes 1.32), each a checkout (or ``git archive``) of an upstream repository:

``--api``            kubernetes/api, branch ``release-1.32``: ``<group>/<version>/generated.proto`` and the Go
                     sources next to it (``types.go``, ``register.go``, ``doc.go``).
``--apimachinery``   kubernetes/apimachinery, branch ``release-1.32``: ``pkg/apis/meta/v1``, ``pkg/runtime``,
                     ``pkg/util/intstr``, ``pkg/api/resource``.
``--apiextensions``  kubernetes/apiextensions-apiserver, branch ``release-1.32``: ``pkg/apis/apiextensions/v1``.

kubelite's copy was made from the ``release-1.32`` branches at kubernetes/api 40f4980d02f4,
kubernetes/apimachinery 59e9003f02d6 and kubernetes/apiextensions-apiserver 887679f927f8; the ``.proto``
files there are identical to those of tag ``v0.32.4`` (the client-go of kubectl 1.32.4) and later 1.32 tags.

What is read and why
--------------------
* ``generated.proto`` (a small proto2 subset: ``package``, ``import``, ``option``, ``message`` with
  nested messages, ``optional``/``repeated``/``required`` fields, ``map<K, V>`` fields; field options in
  ``[...]`` are skipped) gives every message's fully qualified name and its fields: number, proto name,
  type (scalar, message, or map with key/value types), repeated.
* The Go struct tags next to it (``json:"replicas,omitempty" protobuf:"varint,1,opt,name=replicas"``)
  give what the ``.proto`` file cannot say but the JSON form depends on: the JSON name (``$ref``,
  ``x-kubernetes-list-type`` differ from the proto names), ``omitempty``, whether the Go field is a
  pointer (gogo writes non-pointer scalars always and pointer fields only when set, so only this tells
  "unset" from "zero"), and ``json:",inline"`` embedding (``Volume.volumeSource`` is flattened into
  ``Volume`` in JSON). Go fields are matched to proto fields by field number.
* Go named slice types that go-to-protobuf wraps in a message with one ``repeated items = 1`` field
  (``metav1.Verbs``, ``ExtraValue``) are marked ``listWrapper``: their JSON form is the bare list.
* ``register.go`` (``addKnownTypes``) gives the kinds each group version registers, so that an
  envelope's ``apiVersion``/``kind`` maps to a message. Every group version also registers the metav1
  kinds that ``metav1.AddToGroupVersion`` adds (apimachinery ``pkg/apis/meta/v1/register.go``):
  ``WatchEvent`` and the option kinds in every group version, ``Status``, ``APIVersions``,
  ``APIGroupList``, ``APIGroup`` and ``APIResourceList`` in the unversioned ``v1``; ``meta.k8s.io/v1``
  holds the option kinds besides its own (``Table`` has no protobuf form and is left out).
* Messages whose Go types marshal by hand (``Time``, ``Quantity``, ``IntOrString``, ``RawExtension``, ...,
  see ``CUSTOM_MESSAGES``) are marked ``custom``; the codec has dedicated code for each.

The output is deterministic (sorted keys, fields in declaration order, gzip mtime 0): re-running on the
same inputs gives the same bytes. Every message a field refers to must be in the output, and every
proto field of a message backed by a Go struct must match a Go field; otherwise extraction aborts.

Run from the repository root with the project's virtualenv:

    python tools/extract_proto.py --api api --apimachinery apimachinery --apiextensions apiextensions-apiserver
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT: Final = REPO_ROOT / "kubelite" / "api" / "protobuf" / "schema.json.gz"
SCHEMA_FORMAT: Final = "kubelite.protobuf.schema/v1"

# The package directories read from each repository; each holds a generated.proto and its Go types.
API_GROUP_DIRS: Final = (
    "core/v1", "apps/v1", "batch/v1", "discovery/v1", "coordination/v1", "rbac/v1", "scheduling/v1",
    "policy/v1", "events/v1", "certificates/v1", "networking/v1", "autoscaling/v1", "autoscaling/v2",
    "storage/v1", "authentication/v1", "authorization/v1",
)
APIMACHINERY_DIRS: Final = ("pkg/apis/meta/v1", "pkg/runtime", "pkg/util/intstr", "pkg/api/resource")
APIEXTENSIONS_DIRS: Final = ("pkg/apis/apiextensions/v1",)

META_PACKAGE: Final = "k8s.io.apimachinery.pkg.apis.meta.v1"
# apimachinery pkg/apis/meta/v1/register.go: optionsTypes, AddUnversionedTypes(Unversioned, ...),
# AddMetaToScheme (Table and its options have no protobuf message and are left out).
META_OPTION_KINDS: Final = ("ListOptions", "GetOptions", "DeleteOptions", "CreateOptions", "UpdateOptions",
                            "PatchOptions")
META_UNVERSIONED_KINDS: Final = ("Status", "APIVersions", "APIGroupList", "APIGroup", "APIResourceList")
# Registered kinds that upstream never encodes as protobuf (meta/v1 types.go: Table is +protobuf=false).
NO_PROTOBUF_KINDS: Final = frozenset({"Table"})

# Messages whose protobuf or JSON form is written by hand upstream (meta/v1 time_proto.go,
# micro_time_proto.go, duration.go and helpers.go (FieldsV1); resource/quantity_proto.go; intstr/intstr.go;
# runtime/extension.go and types_proto.go; apiextensions/v1 marshal.go): their Go structs do not say how
# they look on the wire or in JSON, so no Go tags are merged in and kubelite.api.protobuf.codec converts
# them with dedicated code.
CUSTOM_MESSAGES: Final = frozenset({
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "k8s.io.apimachinery.pkg.api.resource.Quantity",
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
    "k8s.io.apimachinery.pkg.runtime.RawExtension",
    "k8s.io.apimachinery.pkg.runtime.Unknown",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
})

SCALAR_TYPES: Final = frozenset({
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64",
    "sfixed32", "sfixed64", "bool", "string", "bytes",
})


class ExtractError(Exception):
    """An input file does not have the form this extractor understands; the message names the file."""


# --------------------------------------------------------------------------------------------------
# .proto parsing


@dataclass
class ProtoField:
    number: int
    name: str
    repeated: bool
    type: str  # a scalar type name, or an unresolved message name; "map" for map fields
    map_key: str = ""
    map_value: str = ""


@dataclass
class ProtoMessage:
    full_name: str
    package: str
    scope: str  # the name lookups start from (package, or the enclosing message for nested ones)
    go_name: str  # top-level Go type name ("" for nested messages)
    source_dir: str
    fields: list[ProtoField] = field(default_factory=list)


_TOKEN_RE: Final = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"""|(?P<word>\.?[A-Za-z_][\w.]*)|(?P<num>-?\d[\w.]*)|(?P<sym>[{}\[\]<>=;,()])""",
    re.S,
)


def tokenize(text: str, *, origin: str) -> list[str]:
    """Split proto source into tokens, dropping whitespace and comments."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            line = text.count("\n", 0, pos) + 1
            raise ExtractError(f"{origin}:{line}: unexpected character {text[pos]!r}")
        pos = match.end()
        if match.lastgroup is not None:
            tokens.append(match.group(match.lastgroup))
    return tokens


class ProtoParser:
    """A recursive-descent parser for the proto2 subset of Kubernetes's generated.proto files."""

    def __init__(self, tokens: list[str], *, origin: str, source_dir: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.origin = origin
        self.source_dir = source_dir
        self.package = ""
        self.messages: list[ProtoMessage] = []

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise ExtractError(f"{self.origin}: unexpected end of file" +
                               (f", expected {expected!r}" if expected else ""))
        token = self.tokens[self.pos]
        if expected is not None and token != expected:
            raise ExtractError(f"{self.origin}: expected {expected!r}, found {token!r} (token {self.pos})")
        self.pos += 1
        return token

    def skip_statement(self) -> None:
        """Skip to the end of the current statement (options and imports carry nothing we need)."""
        while self.take() != ";":
            pass

    def skip_brackets(self) -> None:
        depth = 0
        while True:
            token = self.take()
            if token == "[":
                depth += 1
            elif token == "]":
                depth -= 1
                if depth == 0:
                    return

    def parse(self) -> list[ProtoMessage]:
        while self.pos < len(self.tokens):
            token = self.take()
            if token == "syntax":
                self.take("=")
                syntax = self.take()
                if syntax.strip("\"'") != "proto2":
                    raise ExtractError(f"{self.origin}: syntax {syntax} is not proto2")
                self.take(";")
            elif token == "package":
                self.package = self.take()
                self.take(";")
            elif token in ("import", "option"):
                self.skip_statement()
            elif token == "message":
                self.parse_message(scope=self.package, top_level=True)
            elif token == ";":
                continue
            else:
                raise ExtractError(f"{self.origin}: unsupported top-level statement {token!r}")
        return self.messages

    def parse_message(self, *, scope: str, top_level: bool) -> None:
        name = self.take()
        full_name = f"{scope}.{name}" if scope else name
        message = ProtoMessage(full_name=full_name, package=self.package, scope=full_name,
                               go_name=name if top_level else "", source_dir=self.source_dir)
        self.messages.append(message)
        self.take("{")
        while True:
            token = self.take()
            if token == "}":
                return
            if token == ";":
                continue
            if token == "message":
                self.parse_message(scope=full_name, top_level=False)
            elif token in ("option", "reserved", "extensions"):
                self.skip_statement()
            elif token in ("optional", "repeated", "required"):
                message.fields.append(self.parse_field(repeated=token == "repeated"))
            elif token.startswith("map"):
                self.pos -= 1
                message.fields.append(self.parse_map_field())
            else:
                raise ExtractError(f"{self.origin}: unsupported statement {token!r} in message {full_name} "
                                   "(only optional/repeated/required/map fields and nested messages)")

    def parse_field(self, *, repeated: bool) -> ProtoField:
        type_name = self.take()
        name = self.take()
        self.take("=")
        number = self.parse_number()
        if self.peek() == "[":
            self.skip_brackets()
        self.take(";")
        return ProtoField(number=number, name=name, repeated=repeated, type=type_name)

    def parse_map_field(self) -> ProtoField:
        self.take("map")
        self.take("<")
        key = self.take()
        self.take(",")
        value = self.take()
        self.take(">")
        name = self.take()
        self.take("=")
        number = self.parse_number()
        if self.peek() == "[":
            self.skip_brackets()
        self.take(";")
        return ProtoField(number=number, name=name, repeated=True, type="map", map_key=key, map_value=value)

    def parse_number(self) -> int:
        token = self.take()
        try:
            number = int(token, 0)
        except ValueError:
            raise ExtractError(f"{self.origin}: field number {token!r} is not an integer")
        if not 1 <= number < 2**29:
            raise ExtractError(f"{self.origin}: field number {number} is out of range")
        return number


# --------------------------------------------------------------------------------------------------
# Go source parsing: struct tags, named slice/map types, registered kinds


@dataclass(frozen=True)
class GoField:
    go_type: str
    json_name: str  # "" for inlined fields
    omitempty: bool
    inline: bool


@dataclass
class GoPackage:
    structs: dict[str, dict[int, GoField]] = field(default_factory=dict)
    named_slices: set[str] = field(default_factory=set)
    meta_aliases: dict[str, str] = field(default_factory=dict)  # core/v1 "type List metav1.List"
    group: str | None = None
    version: str | None = None
    kinds: list[str] = field(default_factory=list)  # "Kind" or "metav1.Kind"
    adds_meta_kinds: bool = False


_STRUCT_START_RE: Final = re.compile(r"^type\s+(\w+)\s+struct\s*\{\s*$")
_NAMED_SLICE_RE: Final = re.compile(r"^type\s+(\w+)\s+\[\]\S+\s*$")
_EMPTY_STRUCT_RE: Final = re.compile(r"^type\s+(\w+)\s+struct\s*\{\s*\}\s*$")
_META_ALIAS_RE: Final = re.compile(r"^type\s+(\w+)\s+metav1\.(\w+)\s*$")
_FIELD_RE: Final = re.compile(r"^\s*(?P<decl>[^`]+?)\s*`(?P<tag>[^`]*)`\s*(?://.*)?$")
_TAG_RE: Final = re.compile(r'(\w+):"([^"]*)"')
_GROUP_RE: Final = re.compile(r'^const\s+GroupName\s*=\s*"([^"]*)"', re.M)
_VERSION_RE: Final = re.compile(r'SchemeGroupVersion\s*=\s*schema\.GroupVersion\{Group:\s*GroupName,\s*'
                                r'Version:\s*"([^"]+)"\}')
_KNOWN_TYPES_RE: Final = re.compile(r"scheme\.AddKnownTypes\(SchemeGroupVersion,(.*?)\)\n", re.S)
_KIND_REF_RE: Final = re.compile(r"&((?:metav1\.)?\w+)\{\}")


def parse_go_package(directory: Path) -> GoPackage:
    """Read the struct tags and registrations of one Go API package."""
    package = GoPackage()
    for path in sorted(directory.glob("*.go")):
        if path.name.endswith("_test.go") or path.name.startswith(("zz_generated", "generated")):
            continue
        text = path.read_text(encoding="utf-8")
        parse_go_types(text, package=package, origin=str(path))
        if path.name == "register.go":
            parse_register(text, package=package)
    return package


def parse_go_types(text: str, *, package: GoPackage, origin: str) -> None:
    current: dict[int, GoField] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if current is None:
            if (start := _STRUCT_START_RE.match(line)) is not None:
                current = package.structs.setdefault(start.group(1), {})
            elif (empty := _EMPTY_STRUCT_RE.match(line)) is not None:
                package.structs.setdefault(empty.group(1), {})
            elif (named := _NAMED_SLICE_RE.match(line)) is not None:
                package.named_slices.add(named.group(1))
            elif (alias := _META_ALIAS_RE.match(line)) is not None:
                package.meta_aliases[alias.group(1)] = alias.group(2)
            continue
        if line.startswith("}"):
            current = None
            continue
        stripped = line.strip()
        if stripped.startswith("//") or "protobuf:\"" not in stripped:
            continue
        match = _FIELD_RE.match(line)
        if match is None:
            raise ExtractError(f"{origin}:{lineno}: cannot read struct field {stripped!r}")
        tags = dict(_TAG_RE.findall(match.group("tag")))
        proto_tag = tags["protobuf"]
        if proto_tag == "-":
            continue
        parts = proto_tag.split(",")
        try:
            number = int(parts[1])
        except (IndexError, ValueError):
            raise ExtractError(f"{origin}:{lineno}: protobuf tag {proto_tag!r} has no field number")
        decl = match.group("decl").split()
        if len(decl) == 2:
            go_type = decl[1]
        elif len(decl) == 1:
            go_type = decl[0]  # an embedded struct
        else:
            raise ExtractError(f"{origin}:{lineno}: cannot read field declaration {match.group('decl')!r}")
        json_parts = tags.get("json", "").split(",")
        json_name = json_parts[0]
        inline = "inline" in json_parts[1:]
        if not json_name and not inline:
            if len(decl) == 1:
                inline = True  # an embedded struct without a json name is flattened by encoding/json
            else:
                json_name = decl[0]  # encoding/json's default: the Go field name
        current[number] = GoField(go_type=go_type, json_name=json_name, omitempty="omitempty" in json_parts[1:],
                                  inline=inline)


def parse_register(text: str, *, package: GoPackage) -> None:
    if (group := _GROUP_RE.search(text)) is not None:
        package.group = group.group(1)
    if (version := _VERSION_RE.search(text)) is not None:
        package.version = version.group(1)
    for block in _KNOWN_TYPES_RE.findall(text):
        package.kinds.extend(_KIND_REF_RE.findall(block))
    package.adds_meta_kinds = "metav1.AddToGroupVersion(scheme, SchemeGroupVersion)" in text


# --------------------------------------------------------------------------------------------------
# Putting it together


@dataclass(frozen=True)
class SourceDir:
    repo: str  # upstream repository, e.g. "kubernetes/api"
    root: Path
    rel: str  # directory inside the repository


def iter_source_dirs(*, api: Path, apimachinery: Path, apiextensions: Path) -> Iterator[SourceDir]:
    for rel in API_GROUP_DIRS:
        yield SourceDir("kubernetes/api", api, rel)
    for rel in APIMACHINERY_DIRS:
        yield SourceDir("kubernetes/apimachinery", apimachinery, rel)
    for rel in APIEXTENSIONS_DIRS:
        yield SourceDir("kubernetes/apiextensions-apiserver", apiextensions, rel)


def resolve_type(name: str, *, scope: str, known: set[str]) -> str | None:
    """Resolve a proto type reference the way protoc does: innermost scope outwards."""
    if name.startswith("."):
        return name[1:] if name[1:] in known else None
    parts = scope.split(".")
    while parts:
        candidate = ".".join([*parts, name])
        if candidate in known:
            return candidate
        parts.pop()
    return name if name in known else None


def build_schema(*, api: Path, apimachinery: Path, apiextensions: Path, ref: str) -> dict[str, Any]:
    messages: list[ProtoMessage] = []
    go_packages: dict[str, GoPackage] = {}
    sources: dict[str, list[str]] = {}
    packages_by_dir: dict[str, str] = {}
    for src in iter_source_dirs(api=api, apimachinery=apimachinery, apiextensions=apiextensions):
        directory = src.root / src.rel
        proto_path = directory / "generated.proto"
        if not proto_path.is_file():
            raise ExtractError(f"{proto_path}: not found; is --{src.repo.split('/')[1].split('-')[0]} "
                               f"a checkout of {src.repo}?")
        key = f"{src.repo}:{src.rel}"
        origin = f"{src.repo}/{src.rel}/generated.proto"
        parser = ProtoParser(tokenize(proto_path.read_text(encoding="utf-8"), origin=origin),
                             origin=origin, source_dir=key)
        messages.extend(parser.parse())
        packages_by_dir[key] = parser.package
        go_packages[key] = parse_go_package(directory)
        sources.setdefault(src.repo, []).append(f"{src.rel}/generated.proto")

    known = {m.full_name for m in messages}
    meta_go = go_packages["kubernetes/apimachinery:pkg/apis/meta/v1"]
    if len(known) != len(messages):
        raise ExtractError("two .proto files define the same message")

    out_messages: dict[str, Any] = {}
    problems: list[str] = []
    for message in messages:
        go = go_packages[message.source_dir]
        custom = message.full_name in CUSTOM_MESSAGES
        go_fields = go.structs.get(message.go_name) if message.go_name and not custom else None
        if go_fields is None and message.go_name in go.meta_aliases:
            go_fields = meta_go.structs.get(go.meta_aliases[message.go_name])
        list_wrapper = (message.go_name in go.named_slices and len(message.fields) == 1
                        and message.fields[0].repeated and message.fields[0].name == "items")
        if go_fields is None and not custom and not list_wrapper:
            problems.append(f"{message.full_name}: no Go struct {message.go_name} in {message.source_dir} "
                            "and not a known hand-marshalled type; its JSON form is unknown")
        fields_out: list[dict[str, Any]] = []
        for pf in message.fields:
            entry: dict[str, Any] = {"number": pf.number, "name": pf.name}
            if pf.type == "map":
                entry["type"] = "map"
                if pf.map_key not in SCALAR_TYPES:
                    problems.append(f"{message.full_name}.{pf.name}: map key type {pf.map_key} is not a scalar")
                entry["key"] = pf.map_key
                if pf.map_value in SCALAR_TYPES:
                    entry["value"] = pf.map_value
                else:
                    resolved = resolve_type(pf.map_value, scope=message.scope, known=known)
                    if resolved is None:
                        problems.append(f"{message.full_name}.{pf.name}: unknown message {pf.map_value}")
                        continue
                    entry["value"] = "message"
                    entry["valueMessage"] = resolved
            elif pf.type in SCALAR_TYPES:
                entry["type"] = pf.type
            else:
                resolved = resolve_type(pf.type, scope=message.scope, known=known)
                if resolved is None:
                    problems.append(f"{message.full_name}.{pf.name}: unknown message {pf.type}")
                    continue
                entry["type"] = "message"
                entry["message"] = resolved
            if pf.repeated and pf.type != "map":
                entry["repeated"] = True
            json_name = pf.name
            if go_fields is not None:
                gf = go_fields.get(pf.number)
                if gf is None:
                    problems.append(f"{message.full_name}.{pf.name} = {pf.number}: no Go field in "
                                    f"{message.source_dir} struct {message.go_name} has that protobuf number")
                    continue
                entry["go"] = gf.go_type
                json_name = gf.json_name
                if gf.go_type.startswith("*"):
                    entry["pointer"] = True
                if gf.omitempty:
                    entry["omitempty"] = True
                if gf.inline:
                    entry["inline"] = True
                    if entry["type"] != "message" or pf.repeated:
                        problems.append(f"{message.full_name}.{pf.name}: inline field is not a single message")
            entry["json"] = json_name
            fields_out.append(entry)
        body: dict[str, Any] = {"fields": fields_out}
        if list_wrapper:
            body["listWrapper"] = True
        if custom:
            body["custom"] = True
        out_messages[message.full_name] = body

    kinds = build_kinds(go_packages=go_packages, packages_by_dir=packages_by_dir, known=known, problems=problems)
    if problems:
        raise ExtractError("the inputs do not fit together:\n  " + "\n  ".join(problems))
    return {
        "format": SCHEMA_FORMAT,
        "sources": [{"repo": repo, "ref": ref, "files": files} for repo, files in sorted(sources.items())],
        "messages": dict(sorted(out_messages.items())),
        "kinds": {gv: dict(sorted(k.items())) for gv, k in sorted(kinds.items())},
    }


def build_kinds(*, go_packages: dict[str, GoPackage], packages_by_dir: dict[str, str], known: set[str],
                problems: list[str]) -> dict[str, dict[str, str]]:
    kinds: dict[str, dict[str, str]] = {}

    def add(api_version: str, kind: str, message: str) -> None:
        if message not in known:
            problems.append(f"{api_version} {kind}: no protobuf message {message}")
            return
        kinds.setdefault(api_version, {})[kind] = message

    meta_gvs: list[str] = []
    for key, go in go_packages.items():
        if go.version is None or go.group is None or not go.kinds:
            continue  # apimachinery helper packages register nothing
        api_version = f"{go.group}/{go.version}" if go.group else go.version
        package = packages_by_dir[key]
        for ref in go.kinds:
            if ref in NO_PROTOBUF_KINDS:
                continue
            if ref.startswith("metav1."):
                kind = ref.removeprefix("metav1.")
                add(api_version, kind, f"{META_PACKAGE}.{kind}")
            else:
                add(api_version, ref, f"{package}.{ref}")
        if go.adds_meta_kinds:
            meta_gvs.append(api_version)
    for api_version in [*meta_gvs, "meta.k8s.io/v1"]:
        for kind in ("WatchEvent", *META_OPTION_KINDS):
            add(api_version, kind, f"{META_PACKAGE}.{kind}")
    for kind in META_UNVERSIONED_KINDS:
        add("v1", kind, f"{META_PACKAGE}.{kind}")
    return kinds


def render(schema: dict[str, Any]) -> bytes:
    """Serialize deterministically: sorted keys, and a gzip header without a timestamp."""
    raw = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    return gzip.compress(raw, compresslevel=9, mtime=0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--api", type=Path, required=True, help="checkout of kubernetes/api")
    parser.add_argument("--apimachinery", type=Path, required=True, help="checkout of kubernetes/apimachinery")
    parser.add_argument("--apiextensions", type=Path, required=True,
                        help="checkout of kubernetes/apiextensions-apiserver")
    parser.add_argument("--ref", default="release-1.32", help="the branch or tag the checkouts are at")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        schema = build_schema(api=args.api, apimachinery=args.apimachinery, apiextensions=args.apiextensions,
                              ref=args.ref)
    except ExtractError as exc:
        print(f"extract_proto: {exc}", file=sys.stderr)
        return 1
    data = render(schema)
    args.output.write_bytes(data)
    n_fields = sum(len(m["fields"]) for m in schema["messages"].values())
    n_kinds = sum(len(k) for k in schema["kinds"].values())
    print(f"wrote {args.output}: {len(schema['messages'])} messages, {n_fields} fields, "
          f"{n_kinds} kinds in {len(schema['kinds'])} group versions, {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
