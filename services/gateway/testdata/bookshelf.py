"""The Bookshelf service of bookshelf.proto, in memory: what the gateway's tests call.

Each method answers plainly from a dict of books, so that a test can tell
from the answer which fields of the request the gateway filled in (GetBook
says which way the book was named; ListBooks echoes its filter).

    python -m services.gateway.testdata.bookshelf --port 50052
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib

import rpc
from rpc.status import Any as AnyMessage

from ...standard import run_until_signalled

PROTO = pathlib.Path(__file__).with_name("bookshelf.proto")
bookshelf = rpc.load(str(PROTO))
Empty = bookshelf.lookup("google.protobuf.Empty")
Timestamp = bookshelf.lookup("google.protobuf.Timestamp")

__all__ = ["PROTO", "bookshelf", "Bookshelf", "serve", "main", "STATUS_DETAILS_KEY"]

STATUS_DETAILS_KEY = "grpc-status-details-bin"   # google.rpc.Status, doc/statuscodes.md


def _sample_books() -> dict[str, object]:
    books = [
        bookshelf.Book(name="shelves/1/books/1", title="Dune", author="Frank Herbert",
                       genre=bookshelf.Genre.FICTION, tags=["classic", "space"], page_count=412,
                       published=True),
        bookshelf.Book(name="shelves/1/books/2", title="Cosmos", author="Carl Sagan",
                       genre=bookshelf.Genre.SCIENCE, tags=["space"], page_count=365),
        bookshelf.Book(name="shelves/1/books/3", title="SPQR", author="Mary Beard",
                       genre=bookshelf.Genre.HISTORY, tags=["rome"], page_count=608,
                       published=True),
    ]
    return {book.name: book for book in books}


class Bookshelf(bookshelf.BookshelfServicer):
    """Books in memory, by name."""

    def __init__(self) -> None:
        self.books = _sample_books()

    async def _book(self, name: str, context):
        book = self.books.get(name)
        if book is None:
            await context.abort(rpc.StatusCode.NOT_FOUND, f"no book {name}")
        return book

    async def GetShelf(self, request, context):
        shelf_id = request.shelf_id or "default"
        return bookshelf.Shelf(name=f"shelves/{shelf_id}", theme=f"theme of {shelf_id}")

    async def GetBook(self, request, context):
        if request.location is not None:
            name = f"shelves/{request.location.shelf}/books/{request.location.book}"
        else:
            name = request.name
        return await self._book(name, context)

    async def ListBooks(self, request, context):
        books = [book for book in self.books.values()
                 if book.name.startswith(request.parent + "/") and _wanted(book, request)]
        total = len(books)
        if request.page_size:
            books = books[:request.page_size]
        return bookshelf.ListBooksResponse(books=books, total=total)

    async def CreateBook(self, request, context):
        if not request.book_id:
            await context.abort(rpc.StatusCode.INVALID_ARGUMENT, "book_id is required")
        name = f"{request.parent}/books/{request.book_id}"
        if name in self.books:
            await context.abort(rpc.StatusCode.ALREADY_EXISTS, f"{name} exists")
        book = request.book or bookshelf.Book()
        book.name = name
        self.books[name] = book
        return book

    async def UpdateBook(self, request, context):
        book = await self._book(request.book.name, context)
        paths = request.update_mask.paths if request.update_mask is not None else []
        for path in paths or ["title", "author", "genre", "tags", "page_count"]:
            if not hasattr(book, path):
                await context.abort(rpc.StatusCode.INVALID_ARGUMENT, f"no field {path}")
            setattr(book, path, getattr(request.book, path))
        return book

    async def DeleteBook(self, request, context):
        await self._book(request.name, context)
        del self.books[request.name]
        return Empty()

    async def PublishBook(self, request, context):
        book = await self._book(request.name, context)
        book.published = True
        book.publish_time = request.publish_time or Timestamp(seconds=0)
        if request.edition:
            book.tags = [*book.tags, f"edition:{request.edition}"]
        return book

    async def SearchBooks(self, request, context):
        books = [book for book in self.books.values()
                 if request.query.lower() in book.title.lower()
                 and (not request.genres or book.genre in request.genres)]
        return bookshelf.ListBooksResponse(books=books, total=len(books))

    async def GetBookTags(self, request, context):
        book = await self._book(request.name, context)
        return bookshelf.BookTags(tags=book.tags, count=len(book.tags))

    async def GetFile(self, request, context):
        return bookshelf.File(path=request.path, content=request.path.encode())

    async def WatchShelf(self, request, context):
        books = [book for book in self.books.values() if book.name.startswith(request.shelf + "/")]
        await context.send_initial_metadata([("x-watch", request.shelf)])
        for sequence in range(1, request.count + 1):
            if request.fail_after and sequence > request.fail_after:
                await context.abort(rpc.StatusCode.ABORTED, f"stopped after {request.fail_after}")
            yield bookshelf.BookEvent(sequence=sequence, book=books[(sequence - 1) % len(books)])
        context.set_trailing_metadata([("x-events", str(request.count))])

    async def Fail(self, request, context):
        trailing = []
        if request.with_details:
            detail = AnyMessage(type_url="type.googleapis.com/bookshelf.v1.Shelf",
                             value=bookshelf.Shelf(name="shelves/9").encode())
            status = rpc.Status(code=request.code, message=request.message, details=[detail])
            trailing.append((STATUS_DETAILS_KEY, status.encode()))
        await context.abort(rpc.StatusCode(request.code), request.message, trailing_metadata=trailing)

    async def EchoMetadata(self, request, context):
        received = [bookshelf.MetadataEntry(key=key, value=_text(value))
                    for key, value in context.invocation_metadata()]
        await context.send_initial_metadata([("x-initial", "hello"), ("x-data-bin", b"\x00\xff")])
        context.set_trailing_metadata([("x-trailing", "bye")])
        return bookshelf.MetadataResponse(received=received)

    async def Sleep(self, request, context):
        remaining = context.time_remaining()
        await asyncio.sleep(request.seconds)
        return bookshelf.SleepResponse(time_remaining=-1.0 if remaining is None else remaining)


def _wanted(book, request) -> bool:
    wanted = request.filter or bookshelf.ListBooksRequest.Filter()
    if wanted.author and wanted.author != book.author:
        return False
    if any(tag not in book.tags for tag in wanted.tags):
        return False
    if wanted.min_pages is not None and book.page_count < wanted.min_pages.value:
        return False
    if request.genres and book.genre not in request.genres:
        return False
    return book.published or not request.published_only


def _text(value: str | bytes) -> str:
    return value.hex() if isinstance(value, bytes) else value


async def serve(host: str, port: int) -> None:
    server = rpc.Server()
    server.add_service(Bookshelf())
    await run_until_signalled(server, "Bookshelf", host, port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The Bookshelf test service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50052)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
