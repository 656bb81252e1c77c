"""Qdrant Edge (`qdrant-edge-py`, the Qdrant engine in-process) behind the small part of qdrant-client's API
that `Store` and `retrieve` use, so the same code runs on Edge, on a Qdrant server, or on qdrant-client's
older local mode.

Why: qdrant-client's local mode scores sparse (BM25) vectors in Python, point by point; at a few thousand
chunks a hybrid query already takes hundreds of milliseconds, at 100k seconds (benchmarks/rag_scale.py).
Edge keeps an HNSW index for the dense vectors and an inverted index for the sparse ones.

Only what kollama sends is translated: named dense + IDF sparse vectors, `must`/`must_not` filters of
`MatchValue`/`MatchAny`, point-id and filter deletes, and queries that are a vector or a weighted RRF
fusion of prefetches.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

CONFIG_FILE = "kollama-collection.json"


def available() -> bool:
    try:
        import qdrant_edge  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class _Result:
    points: list


class EdgeClient:
    """One folder holds one shard per collection name (kollama uses one, 'chunks')."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._shards: dict[str, Any] = {}
        self._lock = threading.Lock()
        for config in self.path.glob(f"*/{CONFIG_FILE}"):  # open now: another process holding it fails here, clearly
            self._shard(config.parent.name)

    # ------------------------------------------------------------ collections
    def _folder(self, name: str) -> Path:
        return self.path / name

    def _shard(self, name: str):
        import qdrant_edge as edge

        with self._lock:
            if name not in self._shards:
                try:
                    self._shards[name] = edge.EdgeShard.load(str(self._folder(name)))
                except Exception as exc:
                    if "WouldBlock" in str(exc):  # the WAL is locked by another process
                        raise RuntimeError(f"storage folder {self.path} is already accessed by another process") from None
                    raise
            return self._shards[name]

    def collection_exists(self, name: str) -> bool:
        return (self._folder(name) / CONFIG_FILE).is_file()

    def get_collection(self, name: str):
        config = json.loads((self._folder(name) / CONFIG_FILE).read_text())
        vectors = {vector: SimpleNamespace(size=size) for vector, size in config["vectors"].items()}
        return SimpleNamespace(config=SimpleNamespace(params=SimpleNamespace(vectors=vectors)))

    def create_collection(self, name: str, vectors_config: dict, sparse_vectors_config: dict) -> None:
        import qdrant_edge as edge

        distances = {"Cosine": edge.Distance.Cosine, "Dot": edge.Distance.Dot, "Euclid": edge.Distance.Euclid}
        config = edge.EdgeConfig(
            vectors={vector: edge.EdgeVectorParams(size=params.size, distance=distances[_enum_name(params.distance)])
                     for vector, params in vectors_config.items()},
            sparse_vectors={vector: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf if params.modifier else None)
                            for vector, params in sparse_vectors_config.items()})
        folder = self._folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        shard = edge.EdgeShard.create(str(folder), config)
        shard.update(edge.UpdateOperation.create_field_index("doc_id", edge.PayloadSchemaType.Keyword))
        shard.flush()
        with self._lock:
            self._shards[name] = shard
        (folder / CONFIG_FILE).write_text(json.dumps({"vectors": {v: p.size for v, p in vectors_config.items()}}))

    def create_payload_index(self, *args, **kwargs) -> None:  # created with the collection
        return None

    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()

    # ------------------------------------------------------------ points
    def count(self, name: str, count_filter=None, exact: bool = True):
        import qdrant_edge as edge

        return SimpleNamespace(count=self._shard(name).count(edge.CountRequest(exact=exact, filter=_filter(count_filter))))

    def retrieve(self, name: str, ids: list, with_payload: bool = False, with_vectors: bool = False) -> list:
        return self._shard(name).retrieve([_point_id(i) for i in ids], with_payload=with_payload, with_vector=with_vectors)

    def scroll(self, name: str, scroll_filter=None, limit: int = 10, offset=None, with_payload: bool = True,
               with_vectors: bool = False):
        import qdrant_edge as edge

        return self._shard(name).scroll(edge.ScrollRequest(offset=offset, limit=limit, filter=_filter(scroll_filter),
                                                           with_payload=with_payload, with_vector=with_vectors))

    def upsert(self, name: str, points: list, wait: bool = True) -> None:
        import qdrant_edge as edge

        shard = self._shard(name)
        shard.update(edge.UpdateOperation.upsert_points([
            edge.Point(_point_id(p.id), {key: _vector(value) for key, value in p.vector.items()}, p.payload)
            for p in points]))
        shard.flush()  # ingest commits batch by batch: a killed process keeps what was acknowledged

    def delete(self, name: str, points_selector, wait: bool = True) -> None:
        import qdrant_edge as edge

        shard = self._shard(name)
        if getattr(points_selector, "points", None) is not None:
            shard.update(edge.UpdateOperation.delete_points([_point_id(i) for i in points_selector.points]))
        else:
            shard.update(edge.UpdateOperation.delete_points_by_filter(_filter(points_selector.filter)))
        shard.flush()

    def query_points(self, name: str, query=None, using: str | None = None, prefetch: list | None = None,
                     limit: int = 10, query_filter=None, with_payload: bool = True) -> _Result:
        import qdrant_edge as edge

        request = edge.QueryRequest(
            limit=limit, query=_query(query, using), filter=_filter(query_filter), with_payload=with_payload,
            prefetches=[edge.Prefetch(limit=p.limit, query=_query(p.query, p.using), filter=_filter(p.filter))
                        for p in prefetch or []] or None)
        return _Result(self._shard(name).query(request))


def _enum_name(value) -> str:
    text = str(getattr(value, "value", value))
    return text[:1].upper() + text[1:].lower()


def _point_id(value):
    return int(value) if isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else str(value)


def _vector(value):
    import qdrant_edge as edge

    if hasattr(value, "indices"):
        return edge.SparseVector(indices=list(value.indices), values=list(value.values))
    return list(value)


def _query(query, using: str | None):
    import qdrant_edge as edge

    if query is None:
        return None
    rrf = getattr(query, "rrf", None)
    if rrf is not None:
        return edge.Fusion.Rrf(k=rrf.k or 2, weights=rrf.weights)
    return edge.Query.Nearest(_vector(query), using=using)


def _filter(flt):
    """qdrant-client `Filter` of `FieldCondition(key, MatchValue | MatchAny)` -> the Edge filter."""
    import qdrant_edge as edge

    if flt is None:
        return None

    def condition(c):
        match = c.match
        if hasattr(match, "any"):
            return edge.FieldCondition(key=c.key, match=edge.MatchAny(list(match.any)))
        return edge.FieldCondition(key=c.key, match=edge.MatchValue(match.value))

    return edge.Filter(must=[condition(c) for c in flt.must or []] or None,
                       must_not=[condition(c) for c in flt.must_not or []] or None)
