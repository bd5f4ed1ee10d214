"""The knowledge base: documents read, cut into clauses, embedded, searched, and refused when off-topic.

``readers`` (PDF, DOCX, HTML, Markdown, text -> blocks) · ``clauses`` (clause ids in every spelling) ·
``chunking`` (blocks -> clause-sized chunks) · ``embedding`` (the fast query/passages encoder) ·
``dense`` (FAISS) · ``lexical`` (BM25 and fusion) · ``refusal`` (per-index threshold) ·
``manifest`` (what the index folder stores per document) · ``index`` (``KnowledgeBase``: add,
remove, search, open an index by name).

May import: the base only.
"""
