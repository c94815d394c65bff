"""The parts of the documentation site (docs/, built by MkDocs) that are generated, not written.

`python -m bot.docsite` rewrites them in place: the configuration keys from the settings models and
the benchmark tables from bench-results/*.json. tests/unit/test_docs_site.py fails when a page
differs from what this would write, so the pages cannot drift from the code or the results.
"""
