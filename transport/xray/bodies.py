"""The hook through which message bodies get decoded: schemas plug in from above.

The transport layer moves bytes and never imports the protobuf codec
(DESIGN.md, "Layers"). So the tracer does not decode message bodies itself:
it calls a *body formatter*, a plain callable given to it by whoever does
know the schema (the `python -m transport.xray` program, a notebook cell):

    formatter(path, kind, message) -> str | None

`path` is the stream's ":path" ("/pkg.Service/Method", None if unknown),
`kind` is "request" or "response", `message` the message bytes (already
decompressed). It returns the text to show, or None for "nothing to say"; if
it raises, the tracer reports that and shows the bytes instead.

`schema_formatter` builds one from a mapping of decode functions, which is
all a schema needs to be here -- `Product.decode` of our codec and
`Product.FromString` of protobuf's both fit:

    formatter = schema_formatter(
        {"/ecommerce.ProductInfo/addProduct": (Product.decode, ProductID.decode)},
        fallback=raw_text,              # for paths the mapping does not know
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = [
    "REQUEST",
    "RESPONSE",
    "BodyFormatter",
    "Decoder",
    "schema_formatter",
    "hex_preview",
]

REQUEST = "request"  # a message the client sent
RESPONSE = "response"  # a message the server sent

BodyFormatter = Callable[[str | None, str, bytes], str | None]
Decoder = Callable[[bytes], object]

HEX_PREVIEW_BYTES = 32  # how much of an undecoded message the text shows


def schema_formatter(
    schema: Mapping[str, tuple[Decoder, Decoder]],
    *,
    fallback: Callable[[bytes], str] | None = None,
    render: Callable[[object], str] = repr,
) -> BodyFormatter:
    """A formatter that decodes by `schema[path]` (request decoder, response decoder).

    What a decoder returns is shown with `render` (repr by default, which our
    message classes make readable). A path not in `schema`, or a body its
    decoder rejects, goes to `fallback` (a schema-less decoder) if there is one.
    """

    def formatter(path: str | None, kind: str, message: bytes) -> str | None:
        decoders = schema.get(path) if path is not None else None
        if decoders is None:
            return fallback(message) if fallback is not None else None
        decode = decoders[0] if kind == REQUEST else decoders[1]
        try:
            return render(decode(message))
        except Exception as error:  # a peer's bytes: any decoder error is data here
            if fallback is None:
                raise
            return f"(does not decode by the schema: {error})\n{fallback(message)}"

    return formatter


def hex_preview(data: bytes, limit: int = HEX_PREVIEW_BYTES) -> str:
    """The first `limit` bytes in hex, saying how many more there are."""
    shown = data[:limit].hex(" ") if data else "(empty)"
    if len(data) > limit:
        shown += f" ... ({len(data) - limit} more bytes)"
    return shown
