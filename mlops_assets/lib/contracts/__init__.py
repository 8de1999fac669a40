"""Data contracts (Pandera, polars) and the bridge that reports on them."""

from mlops_assets.lib.contracts.bridge import ContractReport, check_contract
from mlops_assets.lib.contracts.schemas import contract_for

__all__ = ["ContractReport", "check_contract", "contract_for"]
