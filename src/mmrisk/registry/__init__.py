"""Registry extracts: the table specification, the reader, the validator and the generator."""

from mmrisk.registry._read import RegistryExtract, check_csv, read_extract
from mmrisk.registry._simulate import simulate_registry
from mmrisk.registry._spec import TABLE_ORDER, TABLES, ColumnSpec, TableSpec
from mmrisk.registry._summary import summarize_extract
from mmrisk.registry._validate import validate_extract, write_report

__all__ = [
    "TABLES",
    "TABLE_ORDER",
    "ColumnSpec",
    "TableSpec",
    "RegistryExtract",
    "read_extract",
    "check_csv",
    "simulate_registry",
    "summarize_extract",
    "validate_extract",
    "write_report",
]
