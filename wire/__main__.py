"""`python -m wire`: the codec at work on the book's ProductInfo `Product`.

Encodes a Product, prints its bytes annotated record by record, decodes them
back, and shows the same bytes read without a schema.
"""

import wire

Product = wire.message("ecommerce.Product", [
    wire.field("id", 1, "string"),
    wire.field("name", 2, "string"),
    wire.field("description", 3, "string"),
    wire.field("price", 4, "float"),
])


def main() -> None:
    product = Product(
        id="1",
        name="Apple iPhone 11",
        description="Meet Apple iPhone 11. All-new dual-camera system.",
        price=699.0,
    )
    data = product.encode()
    print(f"message ecommerce.Product (product_info.proto)\n\n  {product!r}\n")
    print(f"encoded: {len(data)} bytes\n  {data.hex(' ')}\n")
    print("record by record:")
    print(product.explain())
    decoded = Product.decode(data)
    print(f"\ndecoded back: {decoded!r}")
    print(f"equal to the original: {decoded == product}")
    print("\nwithout a schema (like protoc --decode_raw):")
    for raw in wire.decode_raw(data):
        print(f"  {raw.field_number}: {raw.wire_type.name:<6} {raw.value!r}")
    if decoded != product:
        raise SystemExit("round trip failed")


if __name__ == "__main__":
    main()
