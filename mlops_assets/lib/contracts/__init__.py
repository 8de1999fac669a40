"""Data contracts (Pandera, polars) and the bridge that reports on them."""

from mlops_assets.lib.contracts.bridge import ContractReport, check_contract, check_partitions
from mlops_assets.lib.contracts.schemas import contract_for, row_day

__all__ = ["ContractReport", "check_contract", "check_partitions", "contract_for", "row_day"]
