"""Local Sigma engine: pySigma parses, this package compiles rules into fast matchers.

    engine = SigmaEngine.from_paths(["detections/sigma"])
    for match in engine.match(records):  # records in the Sigma view
        print(match.to_dict())
"""

from harness.rules.sigma.compiler import CompiledRule, Logsource, compile_rule
from harness.rules.sigma.correlation import CompiledCorrelation, CorrelationMatch
from harness.rules.sigma.engine import EngineStats, SigmaEngine, SigmaMatch
from harness.rules.sigma.loader import RuleProblem, load_collection

__all__ = [
    "CompiledCorrelation",
    "CompiledRule",
    "CorrelationMatch",
    "EngineStats",
    "Logsource",
    "RuleProblem",
    "SigmaEngine",
    "SigmaMatch",
    "compile_rule",
    "load_collection",
]
