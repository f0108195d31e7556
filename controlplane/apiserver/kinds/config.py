"""ConfigMaps and Secrets: keys, sizes, immutability, Secret types and ``stringData``.

Follows upstream ``pkg/apis/core/validation`` (``ValidateConfigMap``/``Update``,
``ValidateSecret``/``Update``) and the v1 conversion that merges a Secret's write-only
``stringData`` into ``data`` (``Convert_v1_Secret_To_core_Secret``): here the merge happens when the
object is defaulted, before validation, so key errors name ``data[key]`` as upstream's do.
Secret ``data`` values are base64 text on the wire; a value that is not is reported as an invalid
field (upstream's decoder refuses the whole request before validation).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from kubelite.api import validation
from kubelite.api.meta import meta
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj, as_dict
from kubelite.controlplane.apiserver.strategy import SecretStrategy as BaseSecretStrategy
from kubelite.controlplane.apiserver.strategy import Strategy

MAX_SECRET_SIZE: Final = 1024 * 1024  # upstream core.MaxSecretSize, also the ConfigMap limit
IMMUTABLE_MSG: Final = "field is immutable when `immutable` is set"
REDACTED: Final = "<secret contents redacted>"
SERVICE_ACCOUNT_NAME_KEY: Final = "kubernetes.io/service-account.name"


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _whole_object_too_long(limit: int) -> FieldError:
    # upstream passes field.NewPath("") to mean the whole object; it prints as an empty field
    error = FieldError.too_long(Path("data"), limit)
    return FieldError(error.type, "", error.bad_value, error.detail)


def _string_keys(value: Any, path: Path, problems: list[FieldError]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(FieldError.type_invalid(path, value, "must be of type object"))
        return {}
    return value


def _immutable_changes(new: Obj, old: Obj, fields: tuple[str, ...]) -> list[FieldError]:
    """Upstream's ``immutable: true`` rule: the flag stays and the data bags do not change."""
    if old.get("immutable") is not True:
        return []
    problems: list[FieldError] = []
    if new.get("immutable") is not True:
        problems.append(FieldError.forbidden(Path("immutable"), IMMUTABLE_MSG))
    for name in fields:
        # an absent bag and an empty one are the same content
        if (new.get(name) or {}) != (old.get(name) or {}):
            problems.append(FieldError.forbidden(Path(name), IMMUTABLE_MSG))
    return problems


class ConfigMapStrategy(Strategy):
    """v1 ConfigMap."""

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        data = _string_keys(obj.get("data"), Path("data"), problems)
        binary = _string_keys(obj.get("binaryData"), Path("binaryData"), problems)
        total = 0
        for key in sorted(data):
            path = Path("data").key(key)
            problems.extend(FieldError.invalid(path, key, msg) for msg in validation.is_config_map_key(key))
            if key in binary:
                problems.append(FieldError.invalid(path, key, "duplicate of key present in binaryData"))
            value = data[key]
            if not isinstance(value, str):
                problems.append(FieldError.type_invalid(path, value, "must be of type string"))
                continue
            total += _byte_len(value)
        for key in sorted(binary):
            path = Path("binaryData").key(key)
            problems.extend(FieldError.invalid(path, key, msg) for msg in validation.is_config_map_key(key))
            decoded = _decode_base64(binary[key], path, problems)
            total += len(decoded)
        if total > MAX_SECRET_SIZE:
            problems.append(_whole_object_too_long(MAX_SECRET_SIZE))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return [*super().validate_update(new, old), *_immutable_changes(new, old, ("data", "binaryData"))]


def _decode_base64(value: Any, path: Path, problems: list[FieldError]) -> bytes:
    """A []byte field's wire value; problems get an entry when it is not standard base64."""
    if not isinstance(value, str):
        problems.append(FieldError.type_invalid(path, REDACTED, "must be a base64-encoded string"))
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        position = next((i for i, ch in enumerate(value)
                         if not (ch.isascii() and (ch.isalnum() or ch in "+/="))), len(value))
        problems.append(FieldError.invalid(path, REDACTED, f"illegal base64 data at input byte {position}"))
        return b""


def _go_json_object_error(raw: bytes) -> str | None:
    """Why Go's json.Unmarshal into map[string]interface{} would fail, in its words; None if it works."""
    text = raw.decode("utf-8", "replace")
    stripped = text.strip(" \t\r\n")
    if not stripped:
        return "unexpected end of JSON input"
    first = stripped[0]
    if first not in '{["-0123456789tfn':
        return f"invalid character {_go_char(first)} looking for beginning of value"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text):
            return "unexpected end of JSON input"
        if exc.msg == "Expecting value" and text[exc.pos] in _LITERALS:
            return _go_literal_error(text, exc.pos)
        return f"invalid character {_go_char(text[exc.pos])} {_go_json_context(exc.msg, text[:exc.pos])}"
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "bool", type(None): ""}.get(type(value), "number")
        if not kind:
            return None  # null unmarshals into a map without error
        return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
    return None


_PY_TO_GO_JSON: Final = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Extra data": "after top-level value",
}


def _go_json_context(python_message: str, before: str) -> str:
    """Go's words for where the bad character is, from Python's decoder message."""
    if python_message == "Expecting ',' delimiter":
        # inside which container? the innermost unclosed bracket outside strings decides
        stack: list[str] = []
        in_string = escaped = False
        for ch in before:
            if in_string:
                escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
            elif ch == '"':
                in_string = True
            elif ch in "[{":
                stack.append(ch)
            elif ch in "]}" and stack:
                stack.pop()
        return "after array element" if stack and stack[-1] == "[" else "after object key:value pair"
    return _PY_TO_GO_JSON.get(python_message, python_message.lower())


_LITERALS: Final = {"t": "true", "f": "false", "n": "null"}


def _go_literal_error(text: str, start: int) -> str:
    """Go scans true/false/null a byte at a time and names the first wrong one."""
    literal = _LITERALS[text[start]]
    for offset, expected in enumerate(literal[1:], start=1):
        if start + offset >= len(text):
            return "unexpected end of JSON input"
        found = text[start + offset]
        if found != expected:
            return f"invalid character {_go_char(found)} in literal {literal} (expecting {_go_char(expected)})"
    return "invalid character after literal"


def _go_char(ch: str) -> str:
    return "'\\''" if ch == "'" else f"'{ch}'"


class SecretStrategy(BaseSecretStrategy):
    """v1 Secret."""

    def default(self, obj: Obj) -> None:
        super().default(obj)
        # Convert_v1_Secret_To_core_Secret: stringData overwrites data, and is never stored
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = obj.get("data")
            if not isinstance(data, dict):
                data = obj["data"] = {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        data_path = Path("data")
        raw = _string_keys(obj.get("data"), data_path, problems)
        data: dict[str, bytes] = {}
        total = 0
        for key in sorted(raw):
            path = data_path.key(key)
            problems.extend(FieldError.invalid(path, key, msg) for msg in validation.is_config_map_key(key))
            data[key] = _decode_base64(raw[key], path, problems)
            total += len(data[key])
        if total > MAX_SECRET_SIZE:
            problems.append(FieldError.too_long(data_path, MAX_SECRET_SIZE))
        problems.extend(self._validate_type(obj, data))
        return problems

    @staticmethod
    def _validate_type(obj: Obj, data: dict[str, bytes]) -> list[FieldError]:
        """The keys each well-known Secret type must carry (upstream ValidateSecret's switch)."""
        kind = obj.get("type")
        data_path = Path("data")
        if kind == "kubernetes.io/service-account-token":
            annotations = as_dict(meta(obj).get("annotations"))
            if not annotations.get(SERVICE_ACCOUNT_NAME_KEY):
                return [FieldError.required(Path("metadata", "annotations").key(SERVICE_ACCOUNT_NAME_KEY), "")]
            return []
        if kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
            key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
            if key not in data:
                return [FieldError.required(data_path.key(key), "")]
            error = _go_json_object_error(data[key])
            return [FieldError.invalid(data_path.key(key), REDACTED, error)] if error else []
        if kind == "kubernetes.io/basic-auth":
            if "username" not in data and "password" not in data:
                return [FieldError.required(data_path.key("username"), ""),
                        FieldError.required(data_path.key("password"), "")]
            return []
        if kind == "kubernetes.io/ssh-auth":
            if not data.get("ssh-privatekey"):
                return [FieldError.required(data_path.key("ssh-privatekey"), "")]
            return []
        if kind == "kubernetes.io/tls":
            return [FieldError.required(data_path.key(key), "")
                    for key in ("tls.crt", "tls.key") if key not in data]
        return []

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        problems.extend(validation.validate_immutable_field(new.get("type"), old.get("type"), Path("type")))
        problems.extend(_immutable_changes(new, old, ("data",)))
        return problems
