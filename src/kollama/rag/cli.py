"""`kollama rag ...` commands: parse, call `kollama.rag.api`, print."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Annotated, Any

import typer

from kollama.rag.options import OCR_MODE, RECALL_K, SEARCH_K, SEARCH_MODE, RagAskOptions
from kollama.rag.store import DEFAULT_COLLECTION

rag_app = typer.Typer(help="Ask questions over Korean PDFs with page citations (hybrid Korean retrieval, OCR, doctor).",
                      no_args_is_help=True)

Collection = Annotated[str, typer.Option("--collection", "-c", help="Named collection.")]
StoreDir = Annotated[str | None, typer.Option("--store", help="Folder holding the collections (default: $KOLLAMA_HOME/rag).")]
QdrantUrl = Annotated[str | None, typer.Option("--qdrant-url", help="Use a Qdrant server or cluster instead of the embedded store.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _json(data: object) -> None:
    from kollama.console import print_json

    print_json(data)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(highlight=False, stderr=stderr)


@contextmanager
def _started(**options: Any) -> Iterator[Any]:
    """A progress bar drawn between start and stop (plain lines come as work advances)."""
    from kollama.console import ProgressBar

    bar = ProgressBar(**options)
    bar.start()
    try:
        yield bar
    finally:
        bar.stop()


class _AddView:
    """`rag add`'s bars: the files, and under them the file under way (its pages, then its embedding), each
    gone when it is done."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._bar: Any = None
        self._files: Any = None
        self._piece: Any = None
        self._note: str | None = None

    def __enter__(self) -> _AddView:
        self._bar = self._stack.enter_context(_started())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def files(self, done: int, total: int | None, note: str) -> None:
        if self._files is None:
            self._files = self._bar.add_task(note, total=total)
        self._bar.update(self._files, completed=done)

    def file(self, done: int, total: int | None, note: str) -> None:
        if self._piece is None or note != self._note:
            name, _, what = note.rpartition(" ")
            self._piece = self._bar.add_task(f"[cyan]{name}[/] {what}", total=max(total or 0, 1), completed=done)
            self._note = note
        else:
            self._bar.update(self._piece, completed=done)
        if total is not None and done >= total:
            self._bar.remove_task(self._piece)
            self._piece = None


@rag_app.command()
def add(
    paths: Annotated[list[str], typer.Argument(help="PDF, .txt or .md files, folders, or globs.")],
    ocr: Annotated[str, typer.Option(help="OCR pages without usable text: auto, always, never.")] = OCR_MODE,
    collection: Collection = DEFAULT_COLLECTION, store: StoreDir = None, qdrant_url: QdrantUrl = None, as_json: AsJson = False,
) -> None:
    """Add documents; unchanged files are skipped, changed files replace their old chunks."""
    from rich.table import Table

    from kollama.rag import api

    if as_json:
        report = api.add(paths, collection=collection, store=store, qdrant_url=qdrant_url, ocr=ocr)
    else:
        with _AddView() as view:
            report = api.add(paths, collection=collection, store=store, qdrant_url=qdrant_url, ocr=ocr,
                             progress=view.files, file_progress=view.file)
    if as_json:
        _json(report)
    else:
        table = Table("file", "status", "pages", "chunks", "OCR pages", "seconds")
        for f in report["files"]:
            colour = {"failed": "red", "unchanged": "dim"}.get(f["status"], "green")
            table.add_row(f["file"], f"[{colour}]{f['status']}[/]", str(f["pages"]), str(f["chunks"]),
                          ",".join(map(str, f["ocr_pages"])) or "-", f"{f['seconds']:.1f}")
        _console().print(table)
    failed = [f for f in report["files"] if f["status"] == "failed"]
    for f in failed:
        typer.secho(f"error: {f['error']}", err=True, fg=typer.colors.RED)
    if failed:
        raise typer.Exit(1)


@rag_app.command()
def remove(
    names: Annotated[list[str], typer.Argument(help="File names or paths of added documents.")],
    collection: Collection = DEFAULT_COLLECTION, store: StoreDir = None, qdrant_url: QdrantUrl = None, as_json: AsJson = False,
) -> None:
    """Remove documents and their chunks."""
    from kollama.rag import api

    result = api.remove(names, collection=collection, store=store, qdrant_url=qdrant_url)
    if as_json:
        _json(result)
    else:
        typer.echo(f"removed {len(result['removed'])}: {', '.join(result['removed'])}")


@rag_app.command("list")
def list_documents(collection: Collection = DEFAULT_COLLECTION, store: StoreDir = None, qdrant_url: QdrantUrl = None,
                   as_json: AsJson = False) -> None:
    """List the documents of a collection."""
    from rich.table import Table

    from kollama.rag import api

    result = api.documents(collection=collection, store=store, qdrant_url=qdrant_url)
    if as_json:
        _json(result)
        return
    table = Table("file", "title", "pages", "chunks", "OCR pages", "state", title=f"{collection}: {result['chunks']} chunks")
    for d in result["documents"]:
        table.add_row(d["name"], d["title"], str(d["pages"]), str(d["chunks"]), ",".join(map(str, d["ocr_pages"])) or "-",
                      d["state"])
    _console().print(table)


@rag_app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for (Korean or any language).")],
    k: Annotated[int, typer.Option("--k", "-k", help="How many chunks.")] = SEARCH_K,
    mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = SEARCH_MODE,
    collection: Collection = DEFAULT_COLLECTION, store: StoreDir = None, qdrant_url: QdrantUrl = None, as_json: AsJson = False,
) -> None:
    """Show the best chunks with document, page, heading and score."""
    from rich.table import Table

    from kollama.rag import api

    result = api.search(query, k=k, mode=mode, collection=collection, store=store, qdrant_url=qdrant_url)
    if as_json:
        _json(result)
        return
    if not result["hits"]:
        typer.echo("no results (is the collection empty? add documents with `kollama rag add`)")
        return
    table = Table("#", "score", "document", "page", "heading", "text")
    for rank, hit in enumerate(result["hits"], start=1):
        table.add_row(str(rank), f"{hit['score']:.3f}", hit["title"], str(hit["page"]), hit["heading"],
                      hit["text"][:120].replace("\n", " "))
    _console().print(table)


@rag_app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in Korean.")],
    model: Annotated[str, typer.Option(help="Model that writes the answer.")] = RagAskOptions.model,
    k: Annotated[int, typer.Option("--k", "-k", help="Chunks to retrieve.")] = RagAskOptions.k,
    extractive: Annotated[bool, typer.Option("--extractive", help="No generation: quote the best sentences.")] = RagAskOptions.extractive,
    lock: Annotated[str, typer.Option(help="Language lock: off, script, strict.")] = RagAskOptions.lock,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Most tokens to generate.")] = RagAskOptions.max_tokens,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log the question and answer to SQLite.")] = False,
    collection: Collection = RagAskOptions.collection, store: StoreDir = RagAskOptions.store,
    qdrant_url: QdrantUrl = RagAskOptions.qdrant_url, as_json: AsJson = False,
) -> None:
    """Answer from the documents, citing [문서 제목 p.N]; says it does not know when nothing relevant is found."""
    from kollama.logs import log_response
    from kollama.rag import api

    options = RagAskOptions(model=model, k=k, extractive=extractive, lock=lock, max_tokens=max_tokens,
                            collection=collection, store=store, qdrant_url=qdrant_url)
    result = api.ask(question, options, on_response=None if no_log else log_response)
    if as_json:
        _json(result)
        return
    typer.echo(result["answer"])
    for c in result["citations"]:
        typer.secho(f"  {c['citation']}  {c['doc']}", fg=typer.colors.CYAN)


@rag_app.command()
def doctor(path: Annotated[str, typer.Argument(help="A PDF (or .txt/.md) file.")], as_json: AsJson = False) -> None:
    """Report what makes this document work for RAG: structure, metadata, text layer, OCR, consistency."""
    from rich.table import Table

    from kollama.rag import api

    report = api.doctor(path)
    if as_json:
        _json(report)
        return
    colours = {"ok": "green", "warn": "yellow", "fail": "red", "info": "cyan"}
    table = Table("criterion", "status", "detail", "suggestion", title=report["file"])
    for name, c in report["criteria"].items():
        table.add_row(name, f"[{colours[c['status']]}]{c['status']}[/]", c["detail"], c["suggestion"])
    console = _console()
    console.print(table)
    for page in report["pages"]:
        if page["issues"]:
            console.print(f"p.{page['page']}: {page['chars']} chars; {', '.join(page['issues'])}")


@rag_app.command("eval")
def evaluate(
    qa: Annotated[str, typer.Argument(help="JSONL with {\"question\", \"doc\", \"page\"} per line.")],
    k: Annotated[int, typer.Option("--k", "-k", help="Cut-off for recall@k.")] = RECALL_K,
    html: Annotated[str | None, typer.Option(help="Write an HTML report here.")] = "rag-eval.html",
    collection: Collection = DEFAULT_COLLECTION, store: StoreDir = None, qdrant_url: QdrantUrl = None, as_json: AsJson = False,
) -> None:
    """Page-level recall@1, recall@k, MRR and nDCG@10 for bm25-whitespace, bm25-kiwi, dense and hybrid."""
    from rich.table import Table

    from kollama.rag import api

    if as_json:
        report = api.evaluate(qa, k=k, html=html, collection=collection, store=store, qdrant_url=qdrant_url)
    else:
        with _started() as bar:
            report = api.evaluate(qa, k=k, html=html, collection=collection, store=store, qdrant_url=qdrant_url,
                                  progress=bar.report)
    if as_json:
        _json(report)
        return
    table = Table("mode", "recall@1", f"recall@{k}", "MRR", "nDCG@10", "ms/query", title=f"{report['n']} questions")
    for name, m in report["modes"].items():
        table.add_row(name, f"{m['recall@1']:.3f}", f"{m[f'recall@{k}']:.3f}", f"{m['mrr']:.3f}", f"{m['ndcg@10']:.3f}",
                      f"{m['ms_per_query']:.0f}")
    _console().print(table)
    if report.get("html"):
        typer.echo(f"report: {report['html']}")


def register(app: typer.Typer) -> None:
    """Add `kollama rag ...` to the main command."""
    app.add_typer(rag_app, name="rag")
