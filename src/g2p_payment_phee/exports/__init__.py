"""Exports: the registrants, entitlements, payments and audit log lists as CSV or XLSX files.

``formats`` writes a table (streaming, formulas neutralised), ``kinds`` says what each export
holds and reads it in keyset chunks with its page's filters, and ``service.export`` is the one
use case the CLI, the API and the pages call.
"""
