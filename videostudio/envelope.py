"""The seed's ApiResponse envelope, as schemas (for the OpenAPI document) and as answers.

    {"success": true, "data": ...}                      one object, or null
    {"success": true, "data": [...], "nextCursor": ...}  a list; the cursor beside it
    {"success": false, "error": "...", "fields": {...}}  any error; `fields` names each
                                                         bad field as the request spells
                                                         it (`options.durationSeconds`)

Every date is one format, the seed's `new Date().toISOString()`: ISO 8601 in UTC with
milliseconds and "Z" (`Timestamp`).
"""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pydantic
from django.conf import settings
from django.http import JsonResponse
from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel


def iso(moment) -> str:
    """Return a datetime as the seed writes one: 2026-01-31T09:30:00.000Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2026-01-31T09:30:00.000Z"}
    ),
]


class CamelSchema(BaseModel):
    """A body in the seed's camelCase; Python code uses the snake_case names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class InputSchema(CamelSchema):
    """A request body: camelCase only, and a field this API does not know is refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid")


class Envelope[T](BaseModel):
    success: Literal[True] = True
    data: T

    @classmethod
    def model_parametrized_name(cls, params):
        (param,) = params
        name = "Empty" if param in (None, type(None)) else param.__name__.removesuffix("Out")
        return f"{name}Answer"


class ListEnvelope[T](BaseModel):
    """A list: `data` is the array itself; `nextCursor` (also in a Link header) or null."""

    success: Literal[True] = True
    data: list[T]
    nextCursor: str | None = None

    @classmethod
    def model_parametrized_name(cls, params):
        (param,) = params
        return f"{param.__name__.removesuffix('Out')}List"


class ErrorOut(BaseModel):
    """Every error: a sentence a person understands, and the bad fields when there are any."""

    success: Literal[False] = False
    error: str
    fields: dict[str, str] | None = None


class ApiError(Exception):
    """An answer other than success: its status, a message a person understands, bad fields."""

    def __init__(self, status, message, *, fields=None, headers=None):
        super().__init__(message)
        self.status, self.message = status, message
        self.fields, self.headers = fields or {}, headers or {}

    def response(self):
        body = {"success": False, "error": self.message}
        if self.fields:
            body["fields"] = self.fields
        return JsonResponse(body, status=self.status, headers=self.headers)


def invalid(fields) -> ApiError:
    """Return a 400 naming each bad field and saying what is wrong with it."""
    summary = "; ".join(f"{name}: {message}" for name, message in fields.items())
    return ApiError(400, f"The request has invalid fields. {summary}", fields=fields)


def plain(data) -> Any:
    """Return schemas (or lists of them) as JSON-ready data in camelCase."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json", by_alias=True)
    if isinstance(data, list):
        return [plain(item) for item in data]
    return data


def ok(data, *, status=200) -> JsonResponse:
    return JsonResponse({"success": True, "data": plain(data)}, status=status)


def ok_list(items, *, next_cursor=None, next_url=None) -> JsonResponse:
    """Return a list's envelope; the next page's URL also goes in a `Link` header."""
    response = JsonResponse({"success": True, "data": plain(items), "nextCursor": next_cursor})
    if next_url:
        response["Link"] = f'<{next_url}>; rel="next"'
    return response


def error_responses(*codes) -> dict:
    """Return ninja's `response` entries declaring the envelope for these error statuses."""
    return {code: ErrorOut for code in sorted({400, 401, 403, 404, *codes})}


# --- Reading requests ----------------------------------------------------------------

# pydantic's error types, as a sentence; anything else keeps pydantic's own words.
MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": "Unknown field.",
    "int_type": "Use a whole number.",
    "int_parsing": "Use a whole number.",
    "int_from_float": "Use a whole number.",
    "string_type": "Use a string.",
    "bool_type": "Use true or false.",
    "bool_parsing": "Use true or false.",
    "list_type": "Use a list.",
    "dict_type": 'Use an object, e.g. {"name": "value"}.',
    "model_type": 'Use an object, e.g. {"name": "value"}.',
    "model_attributes_type": 'Use an object, e.g. {"name": "value"}.',
}


def parse_json(raw) -> dict:
    """Return a body's JSON object; a 400 saying why for anything else."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ApiError(
            400, "The request body is not valid JSON: it is nested too deeply."
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def read_json(request, *, max_bytes) -> dict:
    """Return the request's JSON object, reading at most max_bytes of the stream.

    videostudio.bodies has already refused a longer Content-Length.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes:
        raise body_too_large(max_bytes)
    raw = request.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise body_too_large(max_bytes)
    return parse_json(raw)


# Request bodies validated by read_body, for the OpenAPI document's components.
BODY_SCHEMAS = []


def request_body(schema) -> dict:
    """Return an operation's `openapi_extra` for a body it reads with read_body(schema)."""
    if schema not in BODY_SCHEMAS:
        BODY_SCHEMAS.append(schema)
    ref = {"$ref": f"#/components/schemas/{schema.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def read_body(request, schema, *, max_bytes=None):
    """Return (the body as schema, the raw JSON object); a 400 naming each bad field.

    Operations read their body themselves, after the caller's access to the object is
    checked (someone else's draft is a 404 whatever the body says), and up to their own
    limit: job creation's frames may take it past Django's DATA_UPLOAD_MAX_MEMORY_SIZE.
    """
    raw = read_json(request, max_bytes=max_bytes or settings.MAX_BODY_BYTES)
    try:
        return schema.model_validate(raw), raw
    except pydantic.ValidationError as exc:
        raise invalid(fields_of(exc.errors())) from None


def fields_of(errors) -> dict:
    """Return {field as sent: message} for pydantic errors (their first problem per field)."""
    fields = {}
    for error in errors:
        loc = list(error["loc"])
        source = loc.pop(0) if loc and loc[0] in ("body", "query", "path", "header") else ""
        if source == "body" and loc:
            loc.pop(0)  # the operation's parameter name
        # A default's own error names the field in Python; an unknown one is as sent.
        sent = error["type"] == "extra_forbidden"
        name = ".".join(str(part) if sent else _camel(part) for part in loc)
        name = name or source or "request"
        fields.setdefault(name, _message(error))
    return fields


def _camel(part) -> str:
    return to_camel(part) if isinstance(part, str) and "_" in part else str(part)


def _message(error) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return f"Use one of: {ctx.get('expected', '')}."
    if kind == "string_too_long":
        return f"Ensure this value has at most {ctx['max_length']} characters."
    if kind == "string_too_short":
        return f"Ensure this value has at least {ctx['min_length']} character(s)."
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        word = "at least" if kind == "greater_than_equal" else "at most"
        return f"Use a whole number {word} {bound}."
    return MESSAGES.get(kind, str(error["msg"]))


def body_too_large(limit=None) -> ApiError:
    limit = limit or settings.MAX_BODY_BYTES
    return ApiError(
        413, f"The request body is larger than this endpoint accepts ({limit:,} bytes)."
    )


def links(status, parameter, expression, *operation_ids) -> dict:
    """Return `openapi_extra` linking an answer's id to the operations that take it.

    A client (or the fuzzer's stateful phase) follows them: a created job to its reads,
    cancel, retry and delete.
    """
    return {
        "responses": {
            status: {
                "links": {
                    operation_id: {
                        "operationId": operation_id,
                        "parameters": {parameter: expression},
                    }
                    for operation_id in operation_ids
                }
            }
        }
    }
